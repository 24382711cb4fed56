//! Changes to a patient's data as they become known (a source's notification, a source's
//! answer refreshed with different data), told to the live subscriptions of that patient.
//!
//! In-process: one broadcast channel, each subscriber picking its patient's changes. A change
//! carries the patient only as a key in memory; it is never logged. A subscriber that falls
//! behind loses the oldest changes and is told so ([`Missed`]); it then re-reads everything,
//! which is what it would do for any change.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::domain::PersonId;

/// Why a patient's data is known to have changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A source told us (FHIR Subscription notification, the engagement index's update).
    Notified,
    /// A source's answer was fetched again and differs from the one cached before it.
    Refreshed,
    /// Who may see the patient's data changed (a consent, block, delegation or care
    /// relationship): live subscriptions decide access again at once.
    Access,
}

/// One change: whose data, at which source (by id; all sources when none).
#[derive(Clone, Debug)]
pub struct Change {
    pub patient: PersonId,
    pub source: Option<String>,
    pub cause: Cause,
}

/// The hub changes pass through.
pub struct Changes {
    sender: broadcast::Sender<Arc<Change>>,
    /// True once the service is shutting down: every listener's stream ends.
    closing: watch::Sender<bool>,
}

/// Some changes were lost because the subscriber fell behind.
#[derive(Debug)]
pub struct Missed;

impl Changes {
    /// A hub keeping up to `capacity` changes for a subscriber that has not yet read them.
    pub fn new(capacity: usize) -> Self {
        Changes {
            sender: broadcast::channel(capacity.max(1)).0,
            closing: watch::channel(false).0,
        }
    }

    /// Ends every listener (the service is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Tells every subscriber of `change.patient`. Nobody listening is not an error.
    pub fn publish(&self, change: Change) {
        let _ = self.sender.send(Arc::new(change));
    }

    /// Listens for changes to `patient`'s data from now on.
    pub fn subscribe(&self, patient: &PersonId) -> Listener {
        Listener {
            patient: patient.clone(),
            receiver: self.sender.subscribe(),
            closing: self.closing.subscribe(),
        }
    }
}

impl Default for Changes {
    fn default() -> Self {
        Changes::new(1024)
    }
}

/// One subscriber's view of the hub: only its patient's changes.
pub struct Listener {
    patient: PersonId,
    receiver: broadcast::Receiver<Arc<Change>>,
    closing: watch::Receiver<bool>,
}

impl Listener {
    /// The next change to the patient's data; `Err(Missed)` when some were lost; `None` when
    /// the hub is closing or gone.
    pub async fn next(&mut self) -> Option<Result<Arc<Change>, Missed>> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                closing = self.closing.changed() => match closing {
                    Ok(()) => continue,
                    Err(_) => return None,
                },
            };
            match received {
                Ok(change) if change.patient == self.patient => return Some(Ok(change)),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Err(Missed)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(digits: &str) -> PersonId {
        PersonId::parse(digits).unwrap()
    }

    #[tokio::test]
    async fn a_listener_hears_its_patients_changes_and_no_one_elses() {
        let hub = Changes::new(8);
        let tolvan = person("191212121212");
        let mut listener = hub.subscribe(&tolvan);
        hub.publish(Change {
            patient: person("201212121212"),
            source: None,
            cause: Cause::Notified,
        });
        hub.publish(Change {
            patient: tolvan.clone(),
            source: Some("vc-gottsunda".into()),
            cause: Cause::Notified,
        });
        let change = listener.next().await.unwrap().unwrap();
        assert_eq!(change.source.as_deref(), Some("vc-gottsunda"));
    }

    #[tokio::test]
    async fn a_listener_that_fell_behind_is_told_it_missed_changes() {
        let hub = Changes::new(2);
        let tolvan = person("191212121212");
        let mut listener = hub.subscribe(&tolvan);
        for _ in 0..5 {
            hub.publish(Change {
                patient: tolvan.clone(),
                source: None,
                cause: Cause::Refreshed,
            });
        }
        assert!(matches!(listener.next().await, Some(Err(Missed))));
        assert!(listener.next().await.unwrap().is_ok());
    }
}
