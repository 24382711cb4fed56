//! `GetMedicationHistory` v2 (clinicalprocess:activityprescription:actoutcome 2.0/2.1) →
//! medications: one [`Medication`] (a prescription) per `medicationMedicalRecord`
//! (`medicationMedicalRecordHeader`, a `PatientSummaryHeaderType`, + `medicationMedicalRecordBody/
//! medicationPrescription`).
//!
//! The drug is read from the prescription's `drug` (a `DrugChoiceType`), else from its
//! `dispensationAuthorization/drug`, else from the first `administration/drug`: the first of
//! those that names a drug gives name, code, dosage and dose.
//!
//! | Medication | from |
//! |---|---|
//! | record_kind | Prescription |
//! | name | `drug/nplId` display name (the product, e.g. "Eliquis 5 mg tablett"), else `drugArticle/nplPackId`, else `merchandise/articleNumber` display name, else `generics` (substance, strength and unit, form), else `unstructuredDrugInformation/unstructuredInformation`, else `drug/atcCode` display name; none → skipped `medicationPrescription` |
//! | code | `drug/atcCode` as ATC (system `http://www.whocc.no/atc` whatever `codeSystem` says or leaves out: the element is ATC by definition), else `drug/nplId` (NPL id, its code system as sent) |
//! | dosage | per `dosage`: `dosageInstruction`, else `shortNotation`, else `setDosage/unstructuredDosageInformation/text`; joined with "; " |
//! | dose | the first structured single dose of a `dosage` (`setDosage`, then `conditionalDosage`: `frequencyDosage`, `periodDosage`, `singleDose`, `occasionDosage/administration` `dose`), a `PQIntervalType` read as one quantity only when it is one (`low` = `high`, or `low` alone); a range (1–2 tablets) or an upper bound alone is no dose (the dosage text says it); ramped and maximum dosages are not single doses |
//! | status | Ended when `typeOfPrescription` is `U` (utsättning; also written out as "Utsättning") or `endOfTreatment` is before today (the date in Sweden when the answer arrived); else `prescriptionStatus` `Active` → Active, `Inactive` → Ended, anything else → Unknown |
//! | start | `startOfTreatment` date, else `startOfFirstTreatment` (the chain's) |
//! | end | `endOfTreatment` date |
//! | prescriber | `prescriber/healthcareProfessionalName` |
//! | reason | `principalPrescriptionReason` (`reason` text, else `otherReason`), joined with "; "; else `treatmentPurpose` |
//! | identifiers | the document identifier, and `prescriptionId` (value the extension, system `urn:oid:<root>` for an OID root, `urn:uuid:` for a UUID; a root alone is the value, without a system) |
//!
//! Dates are the Swedish calendar date as written. The merge matches a prescription across
//! sources by ATC code + dose + start date, so these three are read the way the FHIR mapping
//! reads them (ATC URI, the single dose as a quantity, the treatment's start date).
//!
//! `prescriptionChainId` is not an identifier of the item: every prescription of a chain (each
//! dose change) shares it, and a shared identifier merges two records across sources whatever
//! their doses, which would show an ended dose as the current one.
//!
//! Shared rules (see `map`): nullified records are left out, `approvedForPatient` is honoured,
//! another patient's record and a record without its key are skipped and counted.

use chrono::NaiveDate;
use roxmltree::Node;

use super::{Ctx, Ii, local_today, xml};
use crate::domain::{Code, Medication, MedicationRecordKind, MedicationStatus, Quantity, Sourced};

const ATC_SYSTEM: &str = "http://www.whocc.no/atc";

pub fn map(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<Medication>> {
    xml::children(payload, "medicationMedicalRecord")
        .filter_map(|record| medication(record, cx))
        .collect()
}

fn medication(node: Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<Sourced<Medication>> {
    let (_, record) = cx.summary_record(
        node,
        "medicationMedicalRecordHeader",
        "medicationMedicalRecord",
    )?;
    let Some(prescription) = xml::at(
        node,
        &["medicationMedicalRecordBody", "medicationPrescription"],
    ) else {
        cx.skip("medicationPrescription");
        return None;
    };
    let choices = xml::child(prescription, "drug")
        .into_iter()
        .chain(xml::at(
            prescription,
            &["dispensationAuthorization", "drug"],
        ))
        .chain(xml::children(prescription, "administration").filter_map(|a| xml::child(a, "drug")));
    let Some((drug, name)) = choices
        .into_iter()
        .find_map(|choice| drug_name(choice).map(|name| (choice, name)))
    else {
        cx.skip("medicationPrescription");
        return None;
    };

    let end = xml::date_of(prescription, "endOfTreatment");
    let item = Medication {
        name,
        code: drug_code(drug),
        dosage: dosage_text(drug),
        dose: xml::children(drug, "dosage").find_map(dose),
        status: status(prescription, end, local_today(cx)),
        record_kind: MedicationRecordKind::Prescription,
        start: xml::date_of(prescription, "startOfTreatment")
            .or_else(|| xml::date_of(prescription, "startOfFirstTreatment")),
        end,
        prescriber: xml::at(prescription, &["prescriber", "healthcareProfessionalName"])
            .and_then(xml::own_text)
            .map(str::to_owned),
        reason: reason(prescription),
    };
    let mut sourced = cx.sourced(&record, item);
    if let Some(id) = Ii::of_child(prescription, "prescriptionId") {
        sourced.identifiers.push(id.identifier());
    }
    Some(sourced)
}

/// The drug's name as people read it (see the module table for the order).
fn drug_name(choice: Node<'_, '_>) -> Option<String> {
    let display = |path: &[&str]| {
        xml::at(choice, path)
            .and_then(xml::code)
            .and_then(|c| c.display)
    };
    display(&["drug", "nplId"])
        .or_else(|| display(&["drugArticle", "nplPackId"]))
        .or_else(|| display(&["merchandise", "articleNumber"]))
        .or_else(|| xml::child(choice, "generics").and_then(generics_name))
        .or_else(|| {
            xml::text_at(
                choice,
                &["unstructuredDrugInformation", "unstructuredInformation"],
            )
            .map(str::to_owned)
        })
        .or_else(|| display(&["drug", "atcCode"]))
}

/// A generic drug as "substance strength unit form", e.g. "Paracetamol 500 mg tablett".
fn generics_name(generics: Node<'_, '_>) -> Option<String> {
    let substance = xml::text(generics, "substance")?;
    let strength = xml::child(generics, "strength").and_then(xml::quantity);
    let mut parts = vec![substance.to_owned()];
    if let Some(q) = strength {
        parts.push(format!("{}", q.value));
        parts.extend(q.unit);
    }
    parts.extend(xml::string(generics, "form"));
    Some(parts.join(" "))
}

fn drug_code(choice: Node<'_, '_>) -> Option<Code> {
    let drug = xml::child(choice, "drug")?;
    let atc = xml::code_of(drug, "atcCode").filter(|c| c.code.is_some());
    match atc {
        Some(atc) => Some(Code {
            system: Some(ATC_SYSTEM.to_owned()),
            ..atc
        }),
        None => xml::code_of(drug, "nplId"),
    }
}

fn dosage_text(choice: Node<'_, '_>) -> Option<String> {
    let texts: Vec<&str> = xml::children(choice, "dosage")
        .filter_map(|d| {
            xml::text(d, "dosageInstruction")
                .or_else(|| xml::text(d, "shortNotation"))
                .or_else(|| {
                    xml::text_at(d, &["setDosage", "unstructuredDosageInformation", "text"])
                })
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// The first structured single dose of one `dosage`.
fn dose(dosage: Node<'_, '_>) -> Option<Quantity> {
    ["setDosage", "conditionalDosage"]
        .into_iter()
        .filter_map(|name| xml::child(dosage, name))
        .flat_map(|d| {
            [
                xml::at(d, &["frequencyDosage", "dose"]),
                xml::at(d, &["periodDosage", "dose"]),
                xml::at(d, &["singleDose", "dose"]),
                xml::at(d, &["occasionDosage", "administration", "dose"]),
            ]
        })
        .flatten()
        .find_map(single_quantity)
}

/// A `PQIntervalType` that is one amount: `low` = `high`, or `low` alone.
fn single_quantity(interval: Node<'_, '_>) -> Option<Quantity> {
    let low = xml::text(interval, "low").and_then(xml::number)?;
    let high = xml::text(interval, "high").and_then(xml::number);
    if high.is_some_and(|h| h != low) {
        return None;
    }
    let unit = xml::string(interval, "unit");
    Some(Quantity {
        value: low,
        unit_code: unit.clone(),
        unit,
    })
}

fn status(
    prescription: Node<'_, '_>,
    end: Option<NaiveDate>,
    today: NaiveDate,
) -> MedicationStatus {
    let discontinued = xml::text(prescription, "typeOfPrescription")
        .is_some_and(|t| t == "U" || t.eq_ignore_ascii_case("utsättning"));
    if discontinued || end.is_some_and(|end| end < today) {
        return MedicationStatus::Ended;
    }
    // The enum as the schema has it; some producers send it as a CV with a `code`.
    let status = xml::text(prescription, "prescriptionStatus")
        .or_else(|| xml::text_at(prescription, &["prescriptionStatus", "code"]));
    match status {
        Some(s) if s.eq_ignore_ascii_case("active") => MedicationStatus::Active,
        Some(s) if s.eq_ignore_ascii_case("inactive") => MedicationStatus::Ended,
        _ => MedicationStatus::Unknown,
    }
}

fn reason(prescription: Node<'_, '_>) -> Option<String> {
    let reasons: Vec<String> = xml::children(prescription, "principalPrescriptionReason")
        .filter_map(|r| {
            xml::code_of(r, "reason")
                .and_then(|c| c.display.or(c.code))
                .or_else(|| xml::string(r, "otherReason"))
        })
        .collect();
    if reasons.is_empty() {
        xml::string(prescription, "treatmentPurpose")
    } else {
        Some(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Identifier;
    use crate::sources::rivta::map::DOCUMENT_ID_SYSTEM;
    use crate::sources::rivta::map::testing::run;

    fn answer(header_extra: &str, prescription: &str) -> String {
        format!(
            r#"<GetMedicationHistoryResponse xmlns="urn:riv:clinicalprocess:activityprescription:actoutcome:GetMedicationHistoryResponder:2" xmlns:c="urn:riv:clinicalprocess:activityprescription:actoutcome:2">
              <medicationMedicalRecord>
                <c:medicationMedicalRecordHeader>
                  <c:documentId>MED-1</c:documentId>
                  <c:sourceSystemHSAId>SE2321000016-SYS1</c:sourceSystemHSAId>
                  <c:patientId><c:id>191212121212</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
                  <c:accountableHealthcareProfessional>
                    <c:authorTime>20250301101500</c:authorTime>
                    <c:healthcareProfessionalCareUnitHSAId>SE2321000016-MED1</c:healthcareProfessionalCareUnitHSAId>
                  </c:accountableHealthcareProfessional>
                  <c:approvedForPatient>true</c:approvedForPatient>
                  {header_extra}
                </c:medicationMedicalRecordHeader>
                <c:medicationMedicalRecordBody>
                  <c:medicationPrescription>{prescription}</c:medicationPrescription>
                </c:medicationMedicalRecordBody>
              </medicationMedicalRecord>
              <result><c:resultCode>OK</c:resultCode><c:logId>1</c:logId></result>
            </GetMedicationHistoryResponse>"#
        )
    }

    const ELIQUIS: &str = r#"
        <c:prescriptionId><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>RX-42</c:extension></c:prescriptionId>
        <c:typeOfPrescription>I</c:typeOfPrescription>
        <c:prescriptionStatus>Active</c:prescriptionStatus>
        <c:principalPrescriptionReason><c:reason><c:code>I48</c:code><c:displayName>Förmaksflimmer</c:displayName></c:reason></c:principalPrescriptionReason>
        <c:treatmentPurpose>Mot blodpropp</c:treatmentPurpose>
        <c:prescriptionChainId><c:root>1.2.752.129.2.1.2.1</c:root><c:extension>CHAIN-7</c:extension></c:prescriptionChainId>
        <c:prescriber><c:authorTime>20250301101500</c:authorTime><c:healthcareProfessionalName>Dr Dahl</c:healthcareProfessionalName></c:prescriber>
        <c:startOfFirstTreatment>20240101000000</c:startOfFirstTreatment>
        <c:startOfTreatment>20250301003000</c:startOfTreatment>
        <c:selfMedication>false</c:selfMedication>
        <c:drug>
          <c:drug>
            <c:nplId><c:code>20110317000015</c:code><c:codeSystem>1.2.752.129.2.1.5.1</c:codeSystem><c:displayName>Eliquis 5 mg tablett</c:displayName></c:nplId>
            <c:atcCode><c:code>B01AF02</c:code><c:displayName>apixaban</c:displayName></c:atcCode>
          </c:drug>
          <c:dosage>
            <c:dosageInstruction>1 tablett 2 gånger dagligen</c:dosageInstruction>
            <c:setDosage><c:frequencyDosage><c:dose><c:low>5</c:low><c:high>5</c:high><c:unit>mg</c:unit></c:dose><c:frequency><c:value>2</c:value><c:unit>1/d</c:unit></c:frequency></c:frequencyDosage></c:setDosage>
          </c:dosage>
        </c:drug>"#;

    #[test]
    fn a_prescription_reads_as_the_fhir_mapping_reads_one() {
        let (items, stats) = run(&answer("", ELIQUIS), map);
        assert_eq!(stats.skipped_total(), 0);
        let med = &items[0];
        assert_eq!(med.item.name, "Eliquis 5 mg tablett");
        assert_eq!(med.item.record_kind, MedicationRecordKind::Prescription);
        assert_eq!(med.item.status, MedicationStatus::Active);
        let code = med.item.code.as_ref().unwrap();
        assert_eq!(code.system.as_deref(), Some("http://www.whocc.no/atc"));
        assert_eq!(code.code.as_deref(), Some("B01AF02"));
        assert_eq!(
            med.item.dosage.as_deref(),
            Some("1 tablett 2 gånger dagligen")
        );
        let dose = med.item.dose.as_ref().unwrap();
        assert_eq!((dose.value, dose.unit.as_deref()), (5.0, Some("mg")));
        // 00:30 Swedish time is the day before in UTC: the date is the one written.
        assert_eq!(med.item.start, NaiveDate::from_ymd_opt(2025, 3, 1));
        assert_eq!(med.item.end, None);
        assert_eq!(med.item.prescriber.as_deref(), Some("Dr Dahl"));
        assert_eq!(med.item.reason.as_deref(), Some("Förmaksflimmer"));
    }

    #[test]
    fn the_prescription_id_is_an_identifier_and_the_chain_id_is_not() {
        let (items, _) = run(&answer("", ELIQUIS), map);
        assert_eq!(
            items[0].identifiers,
            vec![
                Identifier {
                    system: Some(format!("{DOCUMENT_ID_SYSTEM}SE2321000016-SYS1")),
                    value: "MED-1".into(),
                },
                Identifier {
                    system: Some("urn:oid:1.2.752.129.2.1.2.1".into()),
                    value: "RX-42".into(),
                },
            ]
        );
        assert_eq!(items[0].provenance.record_id, "SE2321000016-SYS1/MED-1");
    }

    #[test]
    fn a_discontinuation_or_a_past_end_date_means_ended() {
        let u = ELIQUIS.replace(">I<", ">U<");
        assert_eq!(
            run(&answer("", &u), map).0[0].item.status,
            MedicationStatus::Ended
        );
        let written_out = ELIQUIS.replace(">I<", ">Utsättning<");
        assert_eq!(
            run(&answer("", &written_out), map).0[0].item.status,
            MedicationStatus::Ended
        );
        // Fetched on 2026-11-22: an end yesterday has passed, an end today has not.
        let ended = ELIQUIS.replace(
            "<c:selfMedication>",
            "<c:endOfTreatment>20261121235959</c:endOfTreatment><c:selfMedication>",
        );
        let med = &run(&answer("", &ended), map).0[0];
        assert_eq!(med.item.status, MedicationStatus::Ended);
        assert_eq!(med.item.end, NaiveDate::from_ymd_opt(2026, 11, 21));
        let today = ended.replace("20261121", "20261122");
        assert_eq!(
            run(&answer("", &today), map).0[0].item.status,
            MedicationStatus::Active
        );
    }

    #[test]
    fn an_unknown_prescription_status_is_unknown_and_the_prescription_still_shown() {
        let odd = ELIQUIS.replace(">Active<", ">Paused<");
        let (items, stats) = run(&answer("", &odd), map);
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(items[0].item.status, MedicationStatus::Unknown);
        let inactive = ELIQUIS.replace(">Active<", ">Inactive<");
        assert_eq!(
            run(&answer("", &inactive), map).0[0].item.status,
            MedicationStatus::Ended
        );
    }

    #[test]
    fn a_dose_range_is_no_single_dose() {
        let range = ELIQUIS.replace("<c:high>5</c:high>", "<c:high>10</c:high>");
        let med = &run(&answer("", &range), map).0[0];
        assert_eq!(med.item.dose, None);
        assert!(med.item.dosage.is_some());
        let low_only = ELIQUIS.replace("<c:high>5</c:high>", "");
        assert_eq!(
            run(&answer("", &low_only), map).0[0]
                .item
                .dose
                .as_ref()
                .unwrap()
                .value,
            5.0
        );
    }

    #[test]
    fn an_atc_code_is_atc_whatever_its_code_system_says() {
        let with_oid = ELIQUIS.replace(
            "<c:code>B01AF02</c:code>",
            "<c:code>B01AF02</c:code><c:codeSystem>1.2.752.129.2.2.3.1.1</c:codeSystem>",
        );
        let code = run(&answer("", &with_oid), map).0[0]
            .item
            .code
            .clone()
            .unwrap();
        assert_eq!(code.system.as_deref(), Some(ATC_SYSTEM));
        // Without an ATC code, the NPL id.
        let npl_only = ELIQUIS.replace(
            "<c:atcCode><c:code>B01AF02</c:code><c:displayName>apixaban</c:displayName></c:atcCode>",
            "",
        );
        let code = run(&answer("", &npl_only), map).0[0]
            .item
            .code
            .clone()
            .unwrap();
        assert_eq!(code.system.as_deref(), Some("urn:oid:1.2.752.129.2.1.5.1"));
        assert_eq!(code.code.as_deref(), Some("20110317000015"));
    }

    #[test]
    fn an_unstructured_drug_is_named_by_its_text() {
        let prescription = r#"
            <c:prescriptionId><c:root>1.2.3</c:root></c:prescriptionId>
            <c:typeOfPrescription>I</c:typeOfPrescription>
            <c:prescriptionStatus>Active</c:prescriptionStatus>
            <c:selfMedication>true</c:selfMedication>
            <c:drug>
              <c:unstructuredDrugInformation><c:unstructuredInformation>Johannesörtextrakt</c:unstructuredInformation></c:unstructuredDrugInformation>
              <c:dosage><c:shortNotation>1x1</c:shortNotation></c:dosage>
            </c:drug>"#;
        let (items, _) = run(&answer("", prescription), map);
        let med = &items[0];
        assert_eq!(med.item.name, "Johannesörtextrakt");
        assert_eq!(med.item.code, None);
        assert_eq!(med.item.dosage.as_deref(), Some("1x1"));
        // A root alone is the id itself.
        assert_eq!(
            med.identifiers[1],
            Identifier {
                system: None,
                value: "1.2.3".into()
            }
        );
    }

    #[test]
    fn a_prescription_without_a_drug_is_skipped_and_counted() {
        let (items, stats) = run(
            &answer("", "<c:typeOfPrescription>I</c:typeOfPrescription>"),
            map,
        );
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("medicationPrescription"), Some(&1));
    }

    #[test]
    fn nullified_unapproved_and_other_patients_records_follow_the_shared_rules() {
        let (items, stats) = run(&answer("<c:nullified>true</c:nullified>", ELIQUIS), map);
        assert!(items.is_empty());
        assert_eq!(stats.nullified, 1);
        let unapproved = answer("", ELIQUIS)
            .replace("<c:approvedForPatient>true", "<c:approvedForPatient>false");
        assert!(!run(&unapproved, map).0[0].approved_for_patient);
        let other = answer("", ELIQUIS).replace("191212121212", "201212121212");
        let (items, stats) = run(&other, map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("otherPatient"), Some(&1));
        let no_id = answer("", ELIQUIS).replace("<c:documentId>MED-1</c:documentId>", "");
        let (items, stats) = run(&no_id, map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("medicationMedicalRecord"), Some(&1));
    }
}
