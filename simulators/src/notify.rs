//! Simulated sources telling the service their data changed, as real ones do: where to send
//! (the service's notification URL and the shared secret, [`NotifyTarget`]), the changes a
//! simulated source can make to itself at runtime ([`Change`]), and the notifications sent
//! after each: a FHIR Subscriptions R5 Backport IG R4 notification Bundle (`full-resource`),
//! or the engagement index's `ProcessNotification` (the platform's side, for RIV-TA sources).
//! Notifications carry the secret as `Authorization: Bearer <secret>`, what an R4
//! Subscription's `channel.header` would say.

use std::time::Duration;

use serde_json::{Value, json};

/// Where a simulated source sends its notifications.
#[derive(Clone)]
pub struct NotifyTarget {
    /// The service's endpoint, e.g. `http://127.0.0.1:4000/notify/fhir/vc-gottsunda`.
    pub url: String,
    /// The shared secret, sent as a bearer credential.
    pub secret: String,
}

impl std::fmt::Debug for NotifyTarget {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A change a simulated source makes to one person's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new home blood-pressure reading (LOINC 85354-9 panel, systolic and diastolic), now.
    Measurement,
    /// The person's next booking (else their latest) moved a day later.
    Booking,
}

impl Change {
    /// The names the control panel takes.
    pub const NAMES: [&'static str; 2] = ["measurement", "booking"];

    pub fn parse(name: &str) -> Option<Change> {
        match name {
            "measurement" => Some(Change::Measurement),
            "booking" => Some(Change::Booking),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Change::Measurement => "measurement",
            Change::Booking => "booking",
        }
    }
}

/// What a change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The record changed or added (`Observation/<id>`, a booking's id).
    pub record: String,
    /// The service answered the notification with a success status (`None`: no target set).
    pub notified: Option<bool>,
}

/// How long sending one notification may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `body` to `target`; whether the service answered 2xx. Failures are logged (no
/// content), not raised: a source's change stands whether or not anyone was told.
pub(crate) async fn send(target: &NotifyTarget, content_type: &'static str, body: String) -> bool {
    let client = match reqwest::Client::builder().timeout(SEND_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "cannot build the notification client");
            return false;
        }
    };
    let sent = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .bearer_auth(&target.secret)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::warn!(status = response.status().as_u16(), "notification refused");
            false
        }
        Err(error) => {
            tracing::warn!(error = %error.without_url(), "notification not delivered");
            false
        }
    }
}

/// A Backport IG R4 `event-notification` Bundle (`full-resource`) for `resource`, changed at
/// the source at `base_url`; `event_number` counts the subscription's events.
pub fn backport_notification(
    base_url: &str,
    resource: &Value,
    created: bool,
    event_number: u64,
) -> Value {
    let resource_type = resource["resourceType"].as_str().unwrap_or_default();
    let id = resource["id"].as_str().unwrap_or_default();
    let focus = format!("{base_url}/{resource_type}/{id}");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let subscription = format!("{base_url}/Subscription/overblick");
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "history",
        "timestamp": now,
        "entry": [
            {
                "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                "resource": {
                    "resourceType": "Parameters",
                    "meta": { "profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"] },
                    "parameter": [
                        { "name": "subscription", "valueReference": { "reference": subscription } },
                        { "name": "topic", "valueCanonical": "https://overblick.se/fhir/SubscriptionTopic/patient-record-changed" },
                        { "name": "status", "valueCode": "active" },
                        { "name": "type", "valueCode": "event-notification" },
                        { "name": "events-since-subscription-start", "valueString": event_number.to_string() },
                        { "name": "notification-event", "part": [
                            { "name": "event-number", "valueString": event_number.to_string() },
                            { "name": "timestamp", "valueInstant": now },
                            { "name": "focus", "valueReference": { "reference": focus } }
                        ] }
                    ]
                },
                "request": { "method": "GET", "url": format!("{subscription}/$status") },
                "response": { "status": "200" }
            },
            {
                "fullUrl": focus,
                "resource": resource,
                "request": {
                    "method": if created { "POST" } else { "PUT" },
                    "url": if created { resource_type.to_owned() } else { format!("{resource_type}/{id}") }
                },
                "response": { "status": if created { "201" } else { "200" } }
            }
        ]
    })
}

/// The engagement index's `ProcessNotification` (RIVTABP21, SOAP 1.1) telling subscribers that
/// `person`'s engagement in `service_domain`/`categorization` at `logical_address` changed: what
/// the platform sends after a producer's `Update`. Element names as in SKLTP EI's
/// `ProcessNotificationType` (`engagementTransaction`: `deleteFlag`, `engagement`).
pub fn process_notification(
    person: &str,
    service_domain: &str,
    categorization: &str,
    logical_address: &str,
) -> String {
    use quick_xml::escape::escape;
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{env}"><soapenv:Header><a:LogicalAddress xmlns:a="{registry}">overblick</a:LogicalAddress></soapenv:Header><soapenv:Body><r:ProcessNotification xmlns:r="urn:riv:itintegration:engagementindex:ProcessNotificationResponder:1" xmlns:e="urn:riv:itintegration:engagementindex:1"><r:engagementTransaction><e:deleteFlag>false</e:deleteFlag><e:engagement><e:registeredResidentIdentification>{person}</e:registeredResidentIdentification><e:serviceDomain>{domain}</e:serviceDomain><e:categorization>{category}</e:categorization><e:logicalAddress>{address}</e:logicalAddress><e:businessObjectInstanceIdentifier>NA</e:businessObjectInstanceIdentifier><e:clinicalProcessInterestId>NA</e:clinicalProcessInterestId><e:mostRecentContent>{now}</e:mostRecentContent><e:sourceSystem>{address}</e:sourceSystem><e:dataController>{address}</e:dataController><e:owner>{address}</e:owner><e:updateTime>{now}</e:updateTime></e:engagement></r:engagementTransaction></r:ProcessNotification></soapenv:Body></soapenv:Envelope>"#,
        env = crate::soap::SOAP_ENV,
        registry = crate::soap::REGISTRY_NS,
        person = escape(person),
        domain = escape(service_domain),
        category = escape(categorization),
        address = escape(logical_address),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backport_notification_names_its_focus_and_carries_the_resource() {
        let resource = json!({ "resourceType": "Observation", "id": "o1", "subject": { "reference": "Patient/p1" } });
        let bundle = backport_notification("http://127.0.0.1:1/fhir", &resource, true, 3);
        assert_eq!(bundle["type"], "history");
        let status = &bundle["entry"][0]["resource"];
        assert_eq!(status["resourceType"], "Parameters");
        let event = status["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "notification-event")
            .unwrap();
        assert_eq!(
            event["part"][2]["valueReference"]["reference"],
            "http://127.0.0.1:1/fhir/Observation/o1"
        );
        assert_eq!(bundle["entry"][1]["resource"], resource);
        assert_eq!(bundle["entry"][1]["request"]["method"], "POST");
    }

    #[test]
    fn a_process_notification_is_well_formed_and_names_the_engagement() {
        let text = process_notification("191212121212", "riv:crm:scheduling", "Booking", "SE1-A");
        let doc = roxmltree::Document::parse(&text).unwrap();
        let names: Vec<&str> = doc
            .descendants()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        for name in [
            "ProcessNotification",
            "engagementTransaction",
            "deleteFlag",
            "engagement",
            "registeredResidentIdentification",
            "serviceDomain",
            "categorization",
            "logicalAddress",
            "sourceSystem",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
    }

    #[test]
    fn changes_have_the_names_the_panel_takes() {
        for name in Change::NAMES {
            assert_eq!(Change::parse(name).unwrap().name(), name);
        }
        assert!(Change::parse("weight").is_none());
    }
}
