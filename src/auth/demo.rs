//! The demo's token issuer: an Ed25519 key derived from a published phrase, so `overblick token`
//! can mint tokens without a running server. The key is public knowledge by design; the
//! authenticator trusts it only in demo mode, never in production.

use std::time::Duration;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

use crate::domain::PersonId;

/// `iss` of demo tokens.
pub const ISSUER: &str = "urn:overblick:demo-issuer";
/// `aud` of demo tokens.
pub const AUDIENCE: &str = "overblick";
/// The claim carrying the personnummer, as the Swedish OIDC profile names it.
pub const PERSON_CLAIM: &str = "https://id.oidc.se/claim/personalIdentityNumber";

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
    let now = chrono::Utc::now().timestamp();
    let nbf = now + starts_in;
    let mut claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": format!("demo:{}", person.digits()),
        "iat": now,
        "nbf": nbf,
        "exp": nbf + lasts,
        PERSON_CLAIM: person.digits(),
    });
    if let Some(name) = name {
        claims["name"] = name.into();
    }
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("overblick-demo".into());
    jsonwebtoken::encode(&header, &claims, &encoding_key()).expect("signing with a valid key")
}
