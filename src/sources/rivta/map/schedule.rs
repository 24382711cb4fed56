//! `GetSubjectOfCareSchedule` v1 (crm:scheduling 1.1) → bookings: one [`Booking`] per
//! `timeslotDetail`.
//!
//! The contract has no `PatientSummaryHeaderType`, so each time slot is its own record:
//!
//! | Record | from |
//! |---|---|
//! | document id | `bookingId`; none → skipped `timeslotDetail` |
//! | source system | `healthcare_facility` as sent (the unit whose booking system answers), else the source's care-provider HSA-id from the catalog; neither → skipped `timeslotDetail` |
//! | approved for patient | always: the contract has no such flag, and a booking is the patient's own appointment |
//! | care unit | `healthcare_facility` (as HSA-id) and `healthcare_facility_name` |
//! | patient | `subject_of_care`: another patient's (or a value that is not this patient's number) is skipped `otherPatient` |
//!
//! | Booking | from |
//! |---|---|
//! | start | `startTimeInclusive` (`YYYYMMDDhhmmss`, Swedish local time); none or unreadable → skipped `timeslotDetail` |
//! | end | `endTimeExclusive` |
//! | status | Booked: the contract lists booked time slots and has no status or cancellation flag |
//! | title | `reason`, else `purpose`, else `careTypeName` |
//! | service_type | `careTypeName`, else `timeTypeName` |
//! | care_unit | as the record's |
//! | location | `resourceName` (the booked resource, e.g. a room), unless it is just the performer's name |
//! | practitioner | `performerName` |
//! | patient_may_cancel / patient_may_rebook | `cancel_booking_allowed` / `rebooking_allowed`; missing or not a boolean → not said |
//!
//! Left out: `performer` (an HSA-id without a name says nothing to the patient), `resourceID`,
//! `careTypeID`, `timeTypeID`, `message_allowed`, `isInvitation`.

use roxmltree::Node;

use super::{Ctx, Record, xml};
use crate::domain::{Booking, BookingStatus, Sourced};

pub fn map(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<Booking>> {
    xml::children(payload, "timeslotDetail")
        .filter_map(|slot| booking(slot, cx))
        .collect()
}

fn booking(slot: Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<Sourced<Booking>> {
    if cx.is_other_patient(xml::text(slot, "subject_of_care")) {
        cx.skip("otherPatient");
        return None;
    }
    let facility = xml::text(slot, "healthcare_facility");
    let source_system = facility.map(str::to_owned).or_else(|| {
        cx.info
            .care_provider
            .hsa_id
            .as_ref()
            .map(|h| h.as_str().to_owned())
    });
    let (Some(document_id), Some(source_system), Some(start)) = (
        xml::string(slot, "bookingId"),
        source_system,
        xml::timestamp_of(slot, "startTimeInclusive"),
    ) else {
        cx.skip("timeslotDetail");
        return None;
    };
    let care_unit = xml::organisation(
        facility.and_then(xml::hsa_id),
        xml::text(slot, "healthcare_facility_name"),
    );
    let practitioner = xml::string(slot, "performerName");
    let record = Record {
        document_id,
        source_system,
        approved_for_patient: true,
        nullified: false,
        care_unit: care_unit.clone(),
        care_giver: None,
        time: Some(start),
        title: None,
        author: None,
    };
    let item = Booking {
        start,
        end: xml::timestamp_of(slot, "endTimeExclusive"),
        status: BookingStatus::Booked,
        title: xml::string(slot, "reason")
            .or_else(|| xml::string(slot, "purpose"))
            .or_else(|| xml::string(slot, "careTypeName")),
        service_type: xml::string(slot, "careTypeName")
            .or_else(|| xml::string(slot, "timeTypeName")),
        care_unit,
        location: xml::string(slot, "resourceName").filter(|r| Some(r) != practitioner.as_ref()),
        practitioner,
        patient_may_cancel: xml::bool_of(slot, "cancel_booking_allowed"),
        patient_may_rebook: xml::bool_of(slot, "rebooking_allowed"),
    };
    Some(cx.sourced(&record, item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::rivta::map::testing::{PROVIDER, hsa, run};

    fn answer(slots: &str) -> String {
        format!(
            r#"<GetSubjectOfCareScheduleResponse xmlns="urn:riv:crm:scheduling:GetSubjectOfCareScheduleResponder:1" xmlns:s="urn:riv:crm:scheduling:1" xmlns:e="urn:riv:crm:scheduling:1.1">{slots}</GetSubjectOfCareScheduleResponse>"#
        )
    }

    const SLOT: &str = r#"<timeslotDetail>
        <s:startTimeInclusive>20261203093000</s:startTimeInclusive>
        <s:endTimeExclusive>20261203100000</s:endTimeExclusive>
        <s:healthcare_facility>SE2321000016-HJ01</s:healthcare_facility>
        <s:performer>SE2321000016-DOC1</s:performer>
        <s:bookingId>B-1001</s:bookingId>
        <s:subject_of_care>191212121212</s:subject_of_care>
        <s:purpose>Uppföljning</s:purpose>
        <s:reason>Återbesök hjärtmottagningen</s:reason>
        <s:resourceName>Rum 4</s:resourceName>
        <s:healthcare_facility_name>Hjärtmottagningen</s:healthcare_facility_name>
        <s:performerName>Dr Dahl</s:performerName>
        <s:timeTypeName>Återbesök</s:timeTypeName>
        <s:careTypeName>Mottagningsbesök</s:careTypeName>
        <s:cancel_booking_allowed>true</s:cancel_booking_allowed>
        <s:rebooking_allowed>false</s:rebooking_allowed>
        <e:isInvitation>false</e:isInvitation>
      </timeslotDetail>"#;

    #[test]
    fn a_time_slot_is_a_booking_at_its_facility_in_swedish_local_time() {
        let (items, stats) = run(&answer(SLOT), map);
        assert_eq!(stats.skipped_total(), 0);
        let b = &items[0];
        // 09:30 in Swedish winter time is 08:30 UTC.
        assert_eq!(b.item.start.to_rfc3339(), "2026-12-03T08:30:00+00:00");
        assert_eq!(
            b.item.end.unwrap().to_rfc3339(),
            "2026-12-03T09:00:00+00:00"
        );
        assert_eq!(b.item.status, BookingStatus::Booked);
        assert_eq!(b.item.title.as_deref(), Some("Återbesök hjärtmottagningen"));
        assert_eq!(b.item.service_type.as_deref(), Some("Mottagningsbesök"));
        assert_eq!(b.item.location.as_deref(), Some("Rum 4"));
        assert_eq!(b.item.practitioner.as_deref(), Some("Dr Dahl"));
        assert_eq!(b.item.patient_may_cancel, Some(true));
        assert_eq!(b.item.patient_may_rebook, Some(false));
        let unit = b.item.care_unit.as_ref().unwrap();
        assert_eq!(unit.hsa_id, Some(hsa("SE2321000016-HJ01")));
        assert_eq!(unit.name.as_deref(), Some("Hjärtmottagningen"));
        assert_eq!(b.provenance.care_unit, b.item.care_unit);
        assert_eq!(b.provenance.record_id, "SE2321000016-HJ01/B-1001");
        assert!(b.approved_for_patient);
    }

    #[test]
    fn flags_that_are_not_booleans_say_nothing() {
        let (items, _) = run(&answer(&SLOT.replace(">true<", ">true(?)<")), map);
        assert_eq!(items[0].item.patient_may_cancel, None);
    }

    #[test]
    fn a_slot_without_booking_id_or_start_is_skipped_and_counted() {
        let no_id = SLOT.replace("<s:bookingId>B-1001</s:bookingId>", "");
        let no_start = SLOT.replace("20261203093000", "tns1:startTimeInclusive");
        let (items, stats) = run(&answer(&[no_id, no_start].concat()), map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("timeslotDetail"), Some(&2));
    }

    #[test]
    fn a_slot_without_a_facility_is_keyed_by_the_sources_care_provider() {
        let (items, _) = run(
            &answer(&SLOT.replace(
                "<s:healthcare_facility>SE2321000016-HJ01</s:healthcare_facility>",
                "",
            )),
            map,
        );
        assert_eq!(items[0].provenance.record_id, format!("{PROVIDER}/B-1001"));
        // The unit is then named only.
        assert_eq!(items[0].item.care_unit.as_ref().unwrap().hsa_id, None);
    }

    #[test]
    fn another_patients_booking_is_left_out() {
        for subject in ["201212121212", "tns1:subject_of_care"] {
            let (items, stats) = run(&answer(&SLOT.replace("191212121212", subject)), map);
            assert!(items.is_empty());
            assert_eq!(stats.skipped.get("otherPatient"), Some(&1));
        }
    }
}
