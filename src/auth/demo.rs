//! The demo's token issuer and the demo's people: an Ed25519 key derived from a published phrase,
//! so `overblick token` can mint person and staff tokens without a running server, and the
//! identities the demo data is built around. The key is public knowledge by design; the
//! authenticator trusts it only in demo mode, never in production.

use std::time::Duration;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::Value;

use super::StaffIdentity;
use crate::config::StaffClaims;
use crate::domain::{HsaId, PersonId};

/// `iss` of demo tokens.
pub const ISSUER: &str = "urn:overblick:demo-issuer";
/// `aud` of demo tokens.
pub const AUDIENCE: &str = "overblick";
/// The claim carrying the personnummer, as the Swedish OIDC profile names it.
pub const PERSON_CLAIM: &str = "https://id.oidc.se/claim/personalIdentityNumber";
/// The `kid` demo tokens carry.
pub const KEY_ID: &str = "overblick-demo";

/// A person in the demo data. No `Debug`: the personnummer must not reach a log by accident.
#[derive(Clone, Copy)]
pub struct DemoPerson {
    /// 12 digits.
    pub personnummer: &'static str,
    pub name: &'static str,
}

impl DemoPerson {
    pub fn id(&self) -> PersonId {
        PersonId::parse(self.personnummer).expect("the demo personnummer are valid")
    }
}

/// The demo's patient, whose care is spread over every demo source.
pub const DEMO_PATIENT: DemoPerson = DemoPerson {
    personnummer: "191212121212",
    name: "Tolvan Tolvansson",
};
/// A guardian of [`DEMO_CHILD`].
pub const DEMO_GUARDIAN: DemoPerson = DemoPerson {
    personnummer: "198804122383",
    name: "Lena Tolvansson",
};
/// A young child (born 2020-06-15, identity not protected) with [`DEMO_GUARDIAN`] as guardian.
pub const DEMO_CHILD: DemoPerson = DemoPerson {
    personnummer: "202006152397",
    name: "Elias Tolvansson",
};
/// A relative the patient can delegate access to.
pub const DEMO_DELEGATE: DemoPerson = DemoPerson {
    personnummer: "196003012389",
    name: "Margareta Tolvansson",
};

/// A staff member in the demo, as their identity provider would describe them.
#[derive(Clone, Copy, Debug)]
pub struct DemoStaff {
    pub hsa_id: &'static str,
    pub name: &'static str,
    pub profession: &'static str,
    pub care_unit: &'static str,
    pub care_unit_name: &'static str,
    pub care_provider: &'static str,
    pub care_provider_name: &'static str,
}

impl DemoStaff {
    pub fn identity(&self) -> StaffIdentity {
        let id = |s: &str| HsaId::parse(s).expect("the demo HSA-ids are valid");
        StaffIdentity {
            hsa_id: id(self.hsa_id),
            name: Some(self.name.to_owned()),
            profession: Some(self.profession.to_owned()),
            care_unit: id(self.care_unit),
            care_unit_name: Some(self.care_unit_name.to_owned()),
            care_provider: id(self.care_provider),
            care_provider_name: Some(self.care_provider_name.to_owned()),
        }
    }
}

/// A doctor at Gottsunda vårdcentral, one of the demo sources.
pub const DEMO_STAFF: DemoStaff = DemoStaff {
    hsa_id: "SE2321000024-P1234",
    name: "Karin Lindqvist",
    profession: "Läkare",
    care_unit: "SE2321000024-GOT001",
    care_unit_name: "Gottsunda vårdcentral",
    care_provider: "SE2321000024-0001",
    care_provider_name: "Region Uppsala",
};

/// A cardiologist at Hjärtkliniken Fyris, a private clinic and another care provider than the
/// region's: the demo seeds Tolvan's consent for her unit (and a care relationship), so the demo
/// shows staff who see other providers' data beside [`DEMO_STAFF`], who sees only her own
/// provider's until a consent is registered.
pub const DEMO_STAFF_WITH_CONSENT: DemoStaff = DemoStaff {
    hsa_id: "SE5566778899-P0042",
    name: "Sara Holm",
    profession: "Läkare",
    care_unit: "SE5566778899-HJ01",
    care_unit_name: "Hjärtkliniken Fyris, mottagning",
    care_provider: "SE5566778899-0001",
    care_provider_name: "Hjärtkliniken Fyris AB",
};

const SEED_PHRASE: &[u8] =
    b"overblick demo token issuer: public by design, accepted only in demo mode";

fn key_pair() -> Ed25519KeyPair {
    let seed = digest::digest(&digest::SHA256, SEED_PHRASE);
    Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).expect("a 32-byte seed is a valid key")
}

fn encoding_key() -> EncodingKey {
    let pkcs8 = key_pair()
        .to_pkcs8()
        .expect("an Ed25519 key pair serialises to PKCS#8");
    EncodingKey::from_ed_der(pkcs8.as_ref())
}

/// The public half, for the authenticator.
pub fn decoding_key() -> DecodingKey {
    DecodingKey::from_ed_der(key_pair().public_key().as_ref())
}

/// A demo token for `person`, valid from now for `valid_for`.
pub fn mint(person: &PersonId, name: Option<&str>, valid_for: Duration) -> String {
    mint_with(person, name, 0, valid_for.as_secs() as i64)
}

/// A demo token whose validity starts `starts_in` seconds from now (negative: in the past) and
/// lasts `lasts` seconds; for tests of expired and not-yet-valid tokens.
pub fn mint_with(person: &PersonId, name: Option<&str>, starts_in: i64, lasts: i64) -> String {
    let mut claims = serde_json::json!({
        "sub": person_subject(person),
        PERSON_CLAIM: person.digits(),
    });
    if let Some(name) = name {
        claims["name"] = name.into();
    }
    sign(claims, starts_in, lasts)
}

/// A demo token for a staff member, with the default staff claims (see
/// [`StaffClaims`](crate::config::StaffClaims)), valid from now for `valid_for`.
pub fn mint_staff(staff: &StaffIdentity, valid_for: Duration) -> String {
    let names = StaffClaims::default();
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), format!("demo-staff:{}", staff.hsa_id).into());
    let mut put = |claim: &str, value: Option<&str>| {
        if let Some(value) = value {
            claims.insert(claim.to_owned(), value.into());
        }
    };
    put(&names.hsa_id, Some(staff.hsa_id.as_str()));
    put(&names.name, staff.name.as_deref());
    put(&names.profession, staff.profession.as_deref());
    put(&names.care_unit, Some(staff.care_unit.as_str()));
    put(&names.care_unit_name, staff.care_unit_name.as_deref());
    put(&names.care_provider, Some(staff.care_provider.as_str()));
    put(
        &names.care_provider_name,
        staff.care_provider_name.as_deref(),
    );
    sign(Value::Object(claims), 0, valid_for.as_secs() as i64)
}

/// A stable subject that does not spell out the personnummer, as real e-ID providers' opaque
/// subjects do: the subject travels further (traces, access-log tooling) than the number should.
fn person_subject(person: &PersonId) -> String {
    let hash = digest::digest(
        &digest::SHA256,
        format!("overblick demo subject {}", person.digits()).as_bytes(),
    );
    let hex: String = hash.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("demo:{hex}")
}

/// Adds `iss`, `aud` and the validity times to `claims` and signs them with the demo key.
fn sign(mut claims: Value, starts_in: i64, lasts: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let nbf = now + starts_in;
    claims["iss"] = ISSUER.into();
    claims["aud"] = AUDIENCE.into();
    claims["iat"] = now.into();
    claims["nbf"] = nbf.into();
    claims["exp"] = (nbf + lasts).into();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(KEY_ID.into());
    jsonwebtoken::encode(&header, &claims, &encoding_key()).expect("signing with a valid key")
}
