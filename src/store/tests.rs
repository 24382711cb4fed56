//! The store on every backend this machine has (see `testing`): SQLite always, PostgreSQL when
//! `DATABASE_URL` is set (CI sets it).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::testing::databases;
use super::*;
use crate::audit::{AccessRecord, AuditLog, DomainRefusal};

fn person(text: &str) -> PersonId {
    PersonId::parse(text).expect("a valid test personnummer")
}

fn tolvan() -> PersonId {
    person("191212121212")
}

fn lena() -> PersonId {
    person("198804122383")
}

fn margareta() -> PersonId {
    person("196003012389")
}

fn hsa(text: &str) -> HsaId {
    HsaId::parse(text).expect("a valid test HSA-id")
}

fn gottsunda() -> HsaId {
    hsa("SE2321000024-GOT001")
}

fn region_uppsala() -> HsaId {
    hsa("SE2321000024-0001")
}

fn karin() -> HsaId {
    hsa("SE2321000024-P1234")
}

/// A time with sub-millisecond digits, to see that what is read back is what was returned.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 123_456_789)
        .single()
        .unwrap()
}

fn new_consent(patient: PersonId) -> NewConsent {
    NewConsent {
        patient,
        care_unit: gottsunda(),
        care_unit_name: Some("Gottsunda vårdcentral".into()),
        care_provider: region_uppsala(),
        registered_by: karin(),
        registered_by_name: Some("Karin Lindqvist".into()),
        registered_by_profession: Some("Läkare".into()),
        valid_from: at(0),
        valid_until: at(86_400 * 365),
    }
}

fn new_block(patient: PersonId, care_unit: Option<HsaId>) -> NewBlock {
    NewBlock {
        patient,
        care_provider: region_uppsala(),
        care_unit,
    }
}

fn new_delegation(patient: PersonId) -> NewDelegation {
    NewDelegation {
        patient,
        delegate: margareta(),
        domains: vec![Domain::Medications, Domain::Bookings],
        valid_until: NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
    }
}

fn access(patient: &PersonId, time: DateTime<Utc>, request_id: &str) -> AccessRecord {
    AccessRecord {
        time,
        request_id: request_id.into(),
        actor_issuer: "https://idp.example".into(),
        actor_subject: "subject-1".into(),
        actor_role: "patient".into(),
        actor_person: Some(patient.digits()),
        actor_hsa_id: None,
        actor_name: None,
        actor_profession: None,
        on_behalf_of: None,
        patient: patient.digits(),
        care_unit: None,
        care_unit_name: None,
        care_provider: None,
        care_provider_name: None,
        purpose: None,
        reason: None,
        emergency: false,
        domains: vec!["medications".into()],
        sources: vec![],
        outcome: "granted".into(),
        refusals: vec![],
    }
}

fn cut_to_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
}

#[tokio::test]
async fn care_relationships_read_back_as_registered_newest_first() {
    for db in databases().await {
        let store = db.open().await;
        let new = NewCareRelationship {
            patient: tolvan(),
            care_unit: gottsunda(),
            care_provider: region_uppsala(),
            registered_by: karin(),
            valid_from: at(0),
            valid_until: at(3600),
        };
        let first = store.register_care_relationship(&new).await.unwrap();
        assert_eq!(first.patient, tolvan());
        assert_eq!(first.care_unit, gottsunda());
        assert_eq!(first.care_provider, region_uppsala());
        assert_eq!(first.registered_by, karin());
        assert_eq!(first.valid_from, cut_to_ms(at(0)));
        assert_eq!(first.valid_until, cut_to_ms(at(3600)));
        assert!(Utc::now() - first.registered_at < Duration::seconds(60));
        let second = store.register_care_relationship(&new).await.unwrap();
        assert_ne!(first.id, second.id, "{db:?}");
        assert_eq!(
            store.care_relationships(&tolvan()).await.unwrap(),
            [second, first],
            "{db:?}"
        );
        assert_eq!(store.care_relationships(&lena()).await.unwrap(), []);
    }
}

#[tokio::test]
async fn consents_read_back_as_registered_with_or_without_unit_and_staff_names() {
    for db in databases().await {
        let store = db.open().await;
        let named = store
            .register_consent(&new_consent(tolvan()))
            .await
            .unwrap();
        assert_eq!(
            named.care_unit_name.as_deref(),
            Some("Gottsunda vårdcentral")
        );
        assert_eq!(named.registered_by_name.as_deref(), Some("Karin Lindqvist"));
        assert_eq!(named.registered_by_profession.as_deref(), Some("Läkare"));
        assert_eq!(named.valid_from, cut_to_ms(at(0)));
        assert_eq!(named.withdrawn_at, None);
        let unnamed = store
            .register_consent(&NewConsent {
                care_unit_name: None,
                registered_by_name: None,
                registered_by_profession: None,
                ..new_consent(tolvan())
            })
            .await
            .unwrap();
        assert_eq!(
            store.consents(&tolvan()).await.unwrap(),
            [unnamed, named],
            "{db:?}"
        );
    }
}

#[tokio::test]
async fn blocks_read_back_for_one_care_unit_or_a_whole_provider() {
    for db in databases().await {
        let store = db.open().await;
        let unit = store
            .set_block(&new_block(tolvan(), Some(gottsunda())))
            .await
            .unwrap();
        let provider = store.set_block(&new_block(tolvan(), None)).await.unwrap();
        assert_eq!(unit.care_unit, Some(gottsunda()));
        assert_eq!(provider.care_unit, None);
        assert_eq!(provider.lifted_at, None);
        assert_eq!(
            store.blocks(&tolvan()).await.unwrap(),
            [provider, unit],
            "{db:?}"
        );
    }
}

#[tokio::test]
async fn delegations_read_back_for_the_patient_who_granted_and_for_the_delegate() {
    for db in databases().await {
        let store = db.open().await;
        let all_domains = store
            .grant_delegation(&NewDelegation {
                domains: Domain::ALL.to_vec(),
                ..new_delegation(tolvan())
            })
            .await
            .unwrap();
        let from_lena = store
            .grant_delegation(&new_delegation(lena()))
            .await
            .unwrap();
        assert_eq!(all_domains.domains, Domain::ALL);
        assert_eq!(
            from_lena.valid_until,
            NaiveDate::from_ymd_opt(2027, 6, 30).unwrap()
        );
        assert_eq!(
            store.delegations_granted_by(&tolvan()).await.unwrap(),
            std::slice::from_ref(&all_domains),
            "{db:?}"
        );
        assert_eq!(
            store.delegations_to(&margareta()).await.unwrap(),
            [from_lena, all_domains],
            "{db:?}"
        );
        assert_eq!(store.delegations_to(&tolvan()).await.unwrap(), []);
    }
}

#[tokio::test]
async fn an_access_record_reads_back_with_every_field() {
    for db in databases().await {
        let store = db.open().await;
        let full = AccessRecord {
            actor_role: "delegate".into(),
            actor_person: Some(margareta().digits()),
            actor_hsa_id: Some(karin().to_string()),
            actor_name: Some("Karin Lindqvist".into()),
            actor_profession: Some("Läkare".into()),
            on_behalf_of: Some(tolvan().digits()),
            care_unit: Some(gottsunda().to_string()),
            care_unit_name: Some("Gottsunda vårdcentral".into()),
            care_provider: Some(region_uppsala().to_string()),
            care_provider_name: Some("Region Uppsala".into()),
            purpose: Some("EMERGENCY".into()),
            reason: Some("medvetslös, ingen anhörig nåbar".into()),
            emergency: true,
            domains: vec!["medications".into(), "lab_results".into()],
            sources: vec!["vc-gottsunda".into(), "klinisk-kemi-uppsala".into()],
            outcome: "granted".into(),
            refusals: vec![
                DomainRefusal {
                    domain: "measurements".into(),
                    code: "FORBIDDEN".into(),
                },
                DomainRefusal {
                    domain: "bookings".into(),
                    code: "FORBIDDEN".into(),
                },
            ],
            ..access(&tolvan(), at(10), "r-full")
        };
        let bare = AccessRecord {
            actor_person: None,
            domains: vec![],
            outcome: "FORBIDDEN".into(),
            ..access(&tolvan(), at(5), "r-bare")
        };
        store.record(&full).await.unwrap();
        store.record(&bare).await.unwrap();
        let read = store.access_log(&tolvan(), None, None).await.unwrap();
        let expected = [
            AccessRecord {
                time: cut_to_ms(full.time),
                ..full
            },
            AccessRecord {
                time: cut_to_ms(bare.time),
                ..bare
            },
        ];
        assert_eq!(read, expected, "{db:?}");
    }
}

#[tokio::test]
async fn a_patient_withdraws_lifts_and_revokes_only_their_own_and_only_once() {
    for db in databases().await {
        let store = db.open().await;
        let consent = store
            .register_consent(&new_consent(tolvan()))
            .await
            .unwrap();
        let block = store.set_block(&new_block(tolvan(), None)).await.unwrap();
        let delegation = store
            .grant_delegation(&new_delegation(tolvan()))
            .await
            .unwrap();

        // Lena knows the ids (say, from a shared screen): they are not hers, so nothing happens.
        assert_eq!(
            store
                .withdraw_consent(&lena(), &consent.id, at(100))
                .await
                .unwrap(),
            None,
            "{db:?}"
        );
        assert_eq!(
            store.lift_block(&lena(), &block.id, at(100)).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .revoke_delegation(&lena(), &delegation.id, at(100))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.consents(&tolvan()).await.unwrap(),
            std::slice::from_ref(&consent)
        );
        assert_eq!(
            store.blocks(&tolvan()).await.unwrap(),
            std::slice::from_ref(&block)
        );
        assert_eq!(
            store.delegations_granted_by(&tolvan()).await.unwrap(),
            std::slice::from_ref(&delegation)
        );
        // An id nobody has.
        assert_eq!(
            store
                .withdraw_consent(&tolvan(), "no-such-id", at(100))
                .await
                .unwrap(),
            None
        );

        // Tolvan's own: done, and what is returned is what is stored from now on.
        let withdrawn = store
            .withdraw_consent(&tolvan(), &consent.id, at(200))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(withdrawn.withdrawn_at, Some(cut_to_ms(at(200))));
        assert_eq!(
            Consent {
                withdrawn_at: None,
                ..withdrawn.clone()
            },
            consent
        );
        let lifted = store
            .lift_block(&tolvan(), &block.id, at(200))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lifted.lifted_at, Some(cut_to_ms(at(200))));
        let revoked = store
            .revoke_delegation(&tolvan(), &delegation.id, at(200))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(cut_to_ms(at(200))));

        // A second time changes nothing: the first time stands.
        assert_eq!(
            store
                .withdraw_consent(&tolvan(), &consent.id, at(300))
                .await
                .unwrap(),
            Some(withdrawn.clone()),
            "{db:?}"
        );
        assert_eq!(
            store
                .lift_block(&tolvan(), &block.id, at(300))
                .await
                .unwrap(),
            Some(lifted.clone())
        );
        assert_eq!(
            store
                .revoke_delegation(&tolvan(), &delegation.id, at(300))
                .await
                .unwrap(),
            Some(revoked.clone())
        );
        assert_eq!(store.consents(&tolvan()).await.unwrap(), [withdrawn]);
        assert_eq!(store.blocks(&tolvan()).await.unwrap(), [lifted]);
        assert_eq!(store.delegations_to(&margareta()).await.unwrap(), [revoked]);
    }
}

#[tokio::test]
async fn the_access_log_gives_a_patient_only_their_own_records_in_the_range_newest_first() {
    for db in databases().await {
        let store = db.open().await;
        for (seconds, id) in [(0, "a"), (1, "b"), (2, "c"), (2, "c2"), (3, "d")] {
            store
                .record(&access(&tolvan(), at(seconds), id))
                .await
                .unwrap();
        }
        store.record(&access(&lena(), at(1), "lena")).await.unwrap();
        let ids = |records: Vec<AccessRecord>| -> Vec<String> {
            records.into_iter().map(|r| r.request_id).collect()
        };

        let all = store.access_log(&tolvan(), None, None).await.unwrap();
        assert!(all.iter().all(|r| r.patient == tolvan().digits()));
        // Written in the same millisecond: the later one first.
        assert_eq!(ids(all), ["d", "c2", "c", "b", "a"], "{db:?}");
        // `from` inclusive, `to` exclusive, on the stored (millisecond) times.
        let from = Some(cut_to_ms(at(1)));
        let to = Some(cut_to_ms(at(3)));
        assert_eq!(
            ids(store.access_log(&tolvan(), from, to).await.unwrap()),
            ["c2", "c", "b"],
            "{db:?}"
        );
        assert_eq!(
            ids(store.access_log(&tolvan(), None, from).await.unwrap()),
            ["a"]
        );
        assert_eq!(
            ids(store.access_log(&tolvan(), to, None).await.unwrap()),
            ["d"]
        );
        assert_eq!(
            ids(store.access_log(&lena(), None, None).await.unwrap()),
            ["lena"]
        );
        assert_eq!(
            store.access_log(&margareta(), None, None).await.unwrap(),
            []
        );
    }
}

#[tokio::test]
async fn the_access_log_pages_newest_first_and_a_new_record_does_not_shift_the_next_page() {
    for db in databases().await {
        let store = db.open().await;
        for (seconds, id) in [(0, "a"), (1, "b"), (2, "c"), (2, "c2"), (3, "d")] {
            store
                .record(&access(&tolvan(), at(seconds), id))
                .await
                .unwrap();
        }
        store.record(&access(&lena(), at(1), "lena")).await.unwrap();
        let ids = |page: &LogPage| -> Vec<String> {
            page.records
                .iter()
                .map(|(_, r)| r.request_id.clone())
                .collect()
        };

        let first = store
            .access_log_page(&tolvan(), None, None, None, 2)
            .await
            .unwrap();
        assert_eq!(ids(&first), ["d", "c2"], "{db:?}");
        assert!(first.has_more, "{db:?}");
        let after = first.records.last().unwrap().0;
        assert!(
            !store
                .access_log_reaches(
                    &tolvan(),
                    None,
                    None,
                    LogPosition {
                        time_ms: i64::MAX,
                        seq: i64::MAX
                    }
                )
                .await
                .unwrap(),
            "{db:?}: nothing comes before the start"
        );
        assert!(
            store
                .access_log_reaches(&tolvan(), None, None, after)
                .await
                .unwrap(),
            "{db:?}"
        );

        // A reading of the log is itself logged: it arrives at the top, not in the next page.
        store
            .record(&access(&tolvan(), at(4), "newer"))
            .await
            .unwrap();
        let second = store
            .access_log_page(&tolvan(), None, None, Some(after), 2)
            .await
            .unwrap();
        // "c" was written in the same millisecond as "c2", before it: it follows it.
        assert_eq!(ids(&second), ["c", "b"], "{db:?}");
        assert!(second.has_more, "{db:?}");
        let last = store
            .access_log_page(&tolvan(), None, None, Some(second.records[1].0), 2)
            .await
            .unwrap();
        assert_eq!(ids(&last), ["a"], "{db:?}");
        assert!(!last.has_more, "{db:?}");

        // The range applies to pages and the count alike.
        let from = Some(cut_to_ms(at(1)));
        let to = Some(cut_to_ms(at(3)));
        let ranged = store
            .access_log_page(&tolvan(), from, to, None, 10)
            .await
            .unwrap();
        assert_eq!(ids(&ranged), ["c2", "c", "b"], "{db:?}");
        assert!(!ranged.has_more, "{db:?}");
        assert_eq!(
            store.access_log_count(&tolvan(), from, to).await.unwrap(),
            3
        );
        assert_eq!(
            store.access_log_count(&tolvan(), None, None).await.unwrap(),
            6
        );
        assert_eq!(
            store
                .access_log_count(&margareta(), None, None)
                .await
                .unwrap(),
            0
        );
        let empty = store
            .access_log_page(&margareta(), None, None, None, 10)
            .await
            .unwrap();
        assert!(empty.records.is_empty() && !empty.has_more, "{db:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_records_from_a_hundred_concurrent_tasks_are_all_there() {
    for db in databases().await {
        let store = db.open().await;
        let tasks: Vec<_> = (0..100)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..5 {
                        let record = access(&tolvan(), Utc::now(), &format!("t{task}-{i}"));
                        store.record(&record).await.expect("the record is written");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let log = store.access_log(&tolvan(), None, None).await.unwrap();
        let mut ids: Vec<String> = log.into_iter().map(|r| r.request_id).collect();
        assert_eq!(ids.len(), 500, "{db:?}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 500, "{db:?}: every record once");
    }
}

#[tokio::test]
async fn opening_the_store_again_keeps_the_data_and_runs_no_migration_twice() {
    for db in databases().await {
        let consent = {
            let store = db.open().await;
            store
                .register_consent(&new_consent(tolvan()))
                .await
                .unwrap()
        };
        let store = db.open().await;
        let again = db.open().await;
        assert_eq!(
            store.consents(&tolvan()).await.unwrap(),
            [consent],
            "{db:?}"
        );
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.pool())
            .await
            .unwrap();
        let expected = match db.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.len(),
            Backend::Postgres => POSTGRES_MIGRATIONS.len(),
        };
        assert_eq!(applied, expected as i64, "{db:?}");
        // Both stores still write.
        store
            .record(&access(&tolvan(), at(0), "one"))
            .await
            .unwrap();
        again
            .record(&access(&tolvan(), at(1), "two"))
            .await
            .unwrap();
        assert_eq!(
            store.access_log(&tolvan(), None, None).await.unwrap().len(),
            2
        );
    }
}

#[tokio::test]
async fn a_record_written_before_refused_domains_were_kept_reads_back_with_none_refused() {
    for db in databases().await {
        // The database as the first version left it: only the first migration, one record.
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap();
        let first = match db.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS[..1],
            Backend::Postgres => &POSTGRES_MIGRATIONS[..1],
        };
        Migrator::new(Embedded(first))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO access_log (time_ms, request_id, actor_issuer, actor_subject, \
             actor_role, patient, emergency, domains, sources, outcome) \
             VALUES ($1, 'old', 'https://idp.example', 'subject-1', 'delegate', $2, 0, \
             '[\"medications\"]', '[]', 'granted')",
        )
        .bind(at(0).timestamp_millis())
        .bind(tolvan().digits())
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = db.open().await;
        let read = store.access_log(&tolvan(), None, None).await.unwrap();
        assert_eq!(read.len(), 1, "{db:?}");
        assert_eq!(read[0].refusals, [], "{db:?}");
        assert_eq!(read[0].domains, ["medications"], "{db:?}");
        // And the log stays append-only after the migration.
        assert!(
            sqlx::query("DELETE FROM access_log")
                .execute(store.pool())
                .await
                .is_err(),
            "{db:?}"
        );
    }
}

#[tokio::test]
async fn the_access_log_refuses_to_change_or_forget_a_record() {
    for db in databases().await {
        let store = db.open().await;
        store
            .record(&access(&tolvan(), at(0), "kept"))
            .await
            .unwrap();
        for statement in [
            "UPDATE access_log SET outcome = 'FORBIDDEN'",
            "DELETE FROM access_log",
        ] {
            let refused = sqlx::query(statement).execute(store.pool()).await;
            assert!(refused.is_err(), "{db:?}: {statement} was allowed");
        }
        let log = store.access_log(&tolvan(), None, None).await.unwrap();
        assert_eq!(log.len(), 1, "{db:?}");
        assert_eq!(log[0].outcome, "granted");
    }
}

#[tokio::test]
async fn a_row_that_cannot_be_read_is_reported_without_its_personal_data() {
    for db in databases().await {
        let store = db.open().await;
        // A delegate number with a wrong check digit, as a faulty import might leave behind.
        sqlx::query(
            "INSERT INTO delegations (id, patient, delegate, domains, valid_until, granted_at_ms) \
             VALUES ('x', $1, '196003012381', '[\"medications\"]', '2027-01-01', 0)",
        )
        .bind(tolvan().digits())
        .execute(store.pool())
        .await
        .unwrap();
        let message = store
            .delegations_granted_by(&tolvan())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("delegations.delegate"),
            "{db:?}: {message}"
        );
        for number in ["19600301", "19121212", "2381", "1212"] {
            assert!(!message.contains(number), "{db:?}: {message}");
        }
    }
}

#[tokio::test]
async fn a_url_of_another_kind_is_refused_naming_the_accepted_forms() {
    for url in [
        "mysql://root@localhost/overblick",
        "overblick.sqlite",
        "",
        "postgre://localhost/x",
    ] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl), "{url}: {err}");
        let message = err.to_string();
        for form in ["sqlite://", "postgres://", "postgresql://"] {
            assert!(message.contains(form), "{message}");
        }
    }
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://x.db?mode=memory",
    ] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, StoreError::InMemory), "{url}: {err}");
    }
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_is_an_error_that_keeps_the_password_secret() {
    let dir = tempfile::tempdir().unwrap();
    // No `mode=rwc`: a missing file is not created.
    let missing = format!("sqlite://{}", dir.path().join("missing.sqlite").display());
    assert!(matches!(
        Store::open(&missing).await.unwrap_err(),
        StoreError::Connect(_)
    ));
    assert!(!dir.path().join("missing.sqlite").exists());
    if let Ok(url) = std::env::var("DATABASE_URL") {
        // The same server, a database that does not exist.
        let (server, _) = url.rsplit_once('/').unwrap();
        let err = Store::open(&format!("{server}/overblick_no_such_database"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Connect(_)), "{err}");
    }
}

#[test]
fn a_password_in_a_database_url_is_hidden() {
    for (url, shown) in [
        (
            "postgres://overblick:hemligt@db.example:5432/overblick",
            "postgres://overblick:***@db.example:5432/overblick",
        ),
        (
            "postgresql://db.example/overblick?user=o&password=hemligt&sslmode=require",
            "postgresql://db.example/overblick?user=o&password=***&sslmode=require",
        ),
        (
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        (
            "sqlite://overblick.sqlite?mode=rwc",
            "sqlite://overblick.sqlite?mode=rwc",
        ),
    ] {
        assert_eq!(redact_url(url), shown);
    }
}

#[test]
fn every_migration_file_is_embedded_in_order() {
    for (folder, embedded) in [
        ("sqlite", SQLITE_MIGRATIONS),
        ("postgres", POSTGRES_MIGRATIONS),
    ] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder);
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort();
        assert_eq!(files.len(), embedded.len(), "{folder}");
        for ((name, text), (version, description, sql)) in files.iter().zip(embedded) {
            assert_eq!(name, &format!("{version:04}_{description}.sql"), "{folder}");
            assert_eq!(text, sql, "{folder}/{name}");
        }
    }
}

#[test]
fn every_domain_reads_back_from_its_stored_name() {
    for domain in Domain::ALL {
        assert_eq!(Domain::from_str_name(domain.as_str()), Some(domain));
    }
    assert_eq!(Domain::from_str_name("MEDICATIONS"), None);
}

#[tokio::test]
async fn sqlite_commits_reach_the_disk_through_a_write_ahead_log() {
    let db = super::testing::sqlite();
    let store = db.open().await;
    // Every pooled connection, not only the first: hold several at once.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut connections {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(synchronous, 2, "synchronous = FULL");
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_written_is_an_error_and_the_next_one_is_written() {
    for db in databases().await {
        let store = db.open().await;
        // Take the table away, as a broken disk or a revoked grant would.
        sqlx::query("ALTER TABLE access_log RENAME TO access_log_away")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store
            .record(&access(&tolvan(), at(0), "lost"))
            .await
            .unwrap_err()
            .to_string();
        assert!(!err.contains("19121212"), "{db:?}: {err}");
        sqlx::query("ALTER TABLE access_log_away RENAME TO access_log")
            .execute(store.pool())
            .await
            .unwrap();
        store
            .record(&access(&tolvan(), at(1), "kept"))
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e}"));
        let log = store.access_log(&tolvan(), None, None).await.unwrap();
        let ids: Vec<&str> = log.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["kept"], "{db:?}");
    }
}

/// The modes (permission bits) of the SQLite database's files that exist, by file name.
#[cfg(unix)]
fn sqlite_file_modes(db: &super::testing::TestDatabase) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let database = sqlite_files::database_path(&db.url).expect("a file URL");
    sqlite_files::files(&database)
        .into_iter()
        .filter_map(|file| {
            let mode = std::fs::metadata(&file).ok()?.permissions().mode() & 0o777;
            Some((file.file_name()?.to_string_lossy().into_owned(), mode))
        })
        .collect()
}

// Without the store's care these files are created 0644 under the usual umask (022), which is
// what the test would then see.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_files_are_readable_by_the_owner_only() {
    let db = super::testing::sqlite();
    let store = db.open().await;
    store
        .record(&access(&tolvan(), at(0), "written"))
        .await
        .unwrap();
    let modes = sqlite_file_modes(&db);
    let names: Vec<&str> = modes.iter().map(|(name, _)| name.as_str()).collect();
    for name in [
        "overblick.sqlite",
        "overblick.sqlite-wal",
        "overblick.sqlite-shm",
    ] {
        assert!(names.contains(&name), "{name} exists: {modes:?}");
    }
    for (name, mode) in &modes {
        assert_eq!(*mode, 0o600, "{name} is {mode:o}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_sqlite_database_readable_by_others_is_made_owner_only_when_opened() {
    use std::os::unix::fs::PermissionsExt;
    let db = super::testing::sqlite();
    let store = db.open().await;
    store
        .record(&access(&tolvan(), at(0), "before"))
        .await
        .unwrap();
    // As an earlier version (or a copy, or a restore) may have left them.
    for (name, _) in sqlite_file_modes(&db) {
        let database = sqlite_files::database_path(&db.url).unwrap();
        let file = database.with_file_name(name);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    assert!(
        sqlite_file_modes(&db)
            .iter()
            .all(|(_, mode)| *mode == 0o644),
        "the set-up widened them"
    );
    let again = db.open().await;
    again
        .record(&access(&tolvan(), at(1), "after"))
        .await
        .unwrap();
    let modes = sqlite_file_modes(&db);
    assert!(modes.len() >= 3, "{modes:?}");
    for (name, mode) in &modes {
        assert_eq!(*mode, 0o600, "{name} is {mode:o}");
    }
    assert_eq!(
        again.access_log(&tolvan(), None, None).await.unwrap().len(),
        2
    );
}
