//! Who is asking: bearer JWTs checked against configured issuers (signature with an algorithm
//! pinned per issuer, `iss`, `aud`, `exp`, `nbf`) and turned into a [`Principal`]. Roles come from
//! verified claims only, never from query arguments.

pub mod demo;

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::{IssuerSettings, Mode, TokenAlgorithm};
use crate::domain::PersonId;

/// The signed-in user, as established from a verified token.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    pub kind: PrincipalKind,
}

#[derive(Clone, Debug)]
pub enum PrincipalKind {
    /// A person reading their own overview.
    Patient { person: PersonId },
}

impl Principal {
    /// The person the principal is (every principal is a person for now).
    pub fn person(&self) -> &PersonId {
        match &self.kind {
            PrincipalKind::Patient { person } => person,
        }
    }

    /// A short role name for the access log.
    pub fn role(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Patient { .. } => "patient",
        }
    }
}

/// Why a request was not authenticated. The messages are safe to send to the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this API needs a bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    #[error("the bearer token is not valid: {0}")]
    Invalid(&'static str),
}

/// Why the token issuers could not be set up at startup.
#[derive(Debug, thiserror::Error)]
#[error("issuer {issuer}: {message}")]
pub struct AuthConfigError {
    pub issuer: String,
    pub message: String,
}

struct TrustedIssuer {
    issuer: String,
    key: DecodingKey,
    validation: Validation,
    person_claim: String,
}

/// Checks bearer tokens against the trusted issuers.
pub struct Authenticator {
    issuers: Vec<TrustedIssuer>,
}

/// The claims we read before the signature is checked: only to choose which issuer's key and
/// rules to check it with. Nothing in them is trusted until `decode` has verified the token.
#[derive(Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

impl Authenticator {
    /// Sets up the configured issuers; in demo mode the built-in development issuer too.
    pub fn new(mode: Mode, issuers: &[IssuerSettings]) -> Result<Self, AuthConfigError> {
        let mut trusted = Vec::new();
        for settings in issuers {
            let fail = |message: String| AuthConfigError {
                issuer: settings.issuer.clone(),
                message,
            };
            let pem = std::fs::read(&settings.public_key_file).map_err(|e| {
                fail(format!(
                    "cannot read {}: {e}",
                    settings.public_key_file.display()
                ))
            })?;
            let (algorithm, key) = match settings.algorithm {
                TokenAlgorithm::RS256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
                TokenAlgorithm::ES256 => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
                TokenAlgorithm::EdDSA => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
            };
            let key = key.map_err(|e| {
                fail(format!(
                    "{} is not a {:?} public key in PEM: {e}",
                    settings.public_key_file.display(),
                    settings.algorithm
                ))
            })?;
            trusted.push(TrustedIssuer {
                issuer: settings.issuer.clone(),
                key,
                validation: validation(
                    algorithm,
                    &settings.issuer,
                    &settings.audience,
                    settings.leeway.as_secs(),
                ),
                person_claim: settings.person_claim.clone(),
            });
        }
        if mode == Mode::Demo {
            trusted.push(TrustedIssuer {
                issuer: demo::ISSUER.to_owned(),
                key: demo::decoding_key(),
                validation: validation(Algorithm::EdDSA, demo::ISSUER, demo::AUDIENCE, 30),
                person_claim: demo::PERSON_CLAIM.to_owned(),
            });
        }
        Ok(Authenticator { issuers: trusted })
    }

    /// Authenticates the value of an `Authorization` header.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NotBearer)?;
        let unverified = jsonwebtoken::dangerous::insecure_decode::<UnverifiedClaims>(token)
            .map_err(|_| AuthError::Invalid("it is not a well-formed JWT"))?;
        let iss = unverified
            .claims
            .iss
            .ok_or(AuthError::Invalid("it names no issuer"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(AuthError::Invalid("its issuer is not trusted here"))?;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &issuer.key,
            &issuer.validation,
        )
        .map_err(|e| AuthError::Invalid(describe(&e)))?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .ok_or(AuthError::Invalid("it has no subject"))?
            .to_owned();
        let person = claims
            .get(&issuer.person_claim)
            .and_then(|v| v.as_str())
            .and_then(|s| PersonId::parse(s).ok())
            .ok_or(AuthError::Invalid(
                "it carries no valid personal identity number",
            ))?;
        Ok(Principal {
            issuer: issuer.issuer.clone(),
            subject,
            kind: PrincipalKind::Patient { person },
        })
    }
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str, leeway: u64) -> Validation {
    let mut v = Validation::new(algorithm);
    v.algorithms = vec![algorithm];
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.leeway = leeway;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.required_spec_claims = HashSet::from(["exp".into(), "iss".into(), "aud".into()]);
    v
}

/// A reason safe to tell the client; it never echoes the token.
fn describe(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match error.kind() {
        K::ExpiredSignature => "it has expired",
        K::ImmatureSignature => "it is not valid yet",
        K::InvalidIssuer => "its issuer is not trusted here",
        K::InvalidAudience => "it is meant for another audience",
        K::InvalidSignature => "its signature does not verify",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => {
            "it is signed with an algorithm this issuer does not use"
        }
        K::MissingRequiredClaim(_) => "it lacks a required claim (exp, iss or aud)",
        _ => "it could not be verified",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn demo_auth() -> Authenticator {
        Authenticator::new(Mode::Demo, &[]).unwrap()
    }

    fn tolvan() -> PersonId {
        PersonId::parse("191212121212").unwrap()
    }

    #[test]
    fn a_demo_token_authenticates_the_person_it_names() {
        let token = demo::mint(&tolvan(), Some("Tolvan"), Duration::from_secs(60));
        let p = demo_auth()
            .authenticate(Some(&format!("Bearer {token}")))
            .unwrap();
        assert_eq!(p.person(), &tolvan());
        assert_eq!(p.role(), "patient");
    }

    #[test]
    fn demo_tokens_are_refused_outside_the_demo() {
        let token = demo::mint(&tolvan(), None, Duration::from_secs(60));
        let prod = Authenticator::new(Mode::Production, &[]).unwrap();
        assert_eq!(
            prod.authenticate(Some(&format!("Bearer {token}")))
                .unwrap_err(),
            AuthError::Invalid("its issuer is not trusted here")
        );
    }

    #[test]
    fn a_missing_or_odd_header_is_refused() {
        let auth = demo_auth();
        assert_eq!(auth.authenticate(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            auth.authenticate(Some("Basic dG9sdmFu")).unwrap_err(),
            AuthError::NotBearer
        );
        assert!(matches!(
            auth.authenticate(Some("Bearer not.a.jwt")),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = demo::mint_with(&tolvan(), None, -600, 60);
        assert_eq!(
            demo_auth()
                .authenticate(Some(&format!("Bearer {token}")))
                .unwrap_err(),
            AuthError::Invalid("it has expired")
        );
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let token = demo::mint_with(&tolvan(), None, 3600, 600);
        assert_eq!(
            demo_auth()
                .authenticate(Some(&format!("Bearer {token}")))
                .unwrap_err(),
            AuthError::Invalid("it is not valid yet")
        );
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        // header {"alg":"none","typ":"JWT"}; claims as a demo token would carry.
        let claims = format!(
            r#"{{"iss":"{}","aud":"{}","sub":"x","exp":9999999999,"{}":"191212121212"}}"#,
            demo::ISSUER,
            demo::AUDIENCE,
            demo::PERSON_CLAIM
        );
        let token = format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none","typ":"JWT"}"#),
            base64_url(claims.as_bytes())
        );
        assert!(matches!(
            demo_auth().authenticate(Some(&format!("Bearer {token}"))),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let token = demo::mint(&tolvan(), None, Duration::from_secs(60));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let other = format!(
            r#"{{"iss":"{}","aud":"{}","sub":"x","exp":9999999999,"{}":"191212121212"}}"#,
            demo::ISSUER,
            demo::AUDIENCE,
            demo::PERSON_CLAIM
        );
        parts[1] = base64_url(other.as_bytes());
        assert_eq!(
            demo_auth()
                .authenticate(Some(&format!("Bearer {}", parts.join("."))))
                .unwrap_err(),
            AuthError::Invalid("its signature does not verify")
        );
    }

    /// An Ed25519 key pair made for the test: the signing key, and the public key as a PEM file.
    fn issuer_keys(dir: &std::path::Path) -> (jsonwebtoken::EncodingKey, std::path::PathBuf) {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        use base64::Engine;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        // SubjectPublicKeyInfo for Ed25519 (RFC 8410): a fixed prefix and the 32-byte key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        let path = dir.join("idp.pem");
        std::fs::write(&path, pem).unwrap();
        (jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()), path)
    }

    #[test]
    fn a_configured_issuer_accepts_its_own_tokens_with_its_claim_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (key, pem) = issuer_keys(dir.path());
        let settings = IssuerSettings {
            issuer: "https://idp.example.se".into(),
            audience: "overblick".into(),
            algorithm: TokenAlgorithm::EdDSA,
            public_key_file: pem,
            person_claim: "pnr".into(),
            leeway: Duration::from_secs(0),
        };
        let auth = Authenticator::new(Mode::Production, &[settings]).unwrap();
        let now = chrono::Utc::now().timestamp();
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::EdDSA), &claims, &key)
                .unwrap()
        };
        let good = sign(serde_json::json!({
            "iss": "https://idp.example.se", "aud": "overblick", "sub": "u1",
            "exp": now + 60, "pnr": "191212121212"
        }));
        let p = auth.authenticate(Some(&format!("Bearer {good}"))).unwrap();
        assert_eq!(p.person(), &tolvan());
        assert_eq!(p.subject, "u1");

        let wrong_audience = sign(serde_json::json!({
            "iss": "https://idp.example.se", "aud": "someone-else", "sub": "u1",
            "exp": now + 60, "pnr": "191212121212"
        }));
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {wrong_audience}")))
                .unwrap_err(),
            AuthError::Invalid("it is meant for another audience")
        );
        let no_person = sign(serde_json::json!({
            "iss": "https://idp.example.se", "aud": "overblick", "sub": "u1",
            "exp": now + 60, "pnr": "19121212-1213"
        }));
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {no_person}")))
                .unwrap_err(),
            AuthError::Invalid("it carries no valid personal identity number")
        );
        // A demo token is refused: production never trusts the demo issuer.
        let demo = demo::mint(&tolvan(), None, Duration::from_secs(60));
        assert!(auth.authenticate(Some(&format!("Bearer {demo}"))).is_err());
    }

    #[test]
    fn a_missing_or_unreadable_issuer_key_stops_startup_with_the_issuer_named() {
        let settings = IssuerSettings {
            issuer: "https://idp.example.se".into(),
            audience: "overblick".into(),
            algorithm: TokenAlgorithm::RS256,
            public_key_file: "/nonexistent/idp.pem".into(),
            person_claim: "pnr".into(),
            leeway: Duration::from_secs(0),
        };
        let err = Authenticator::new(Mode::Production, &[settings])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("https://idp.example.se") && err.contains("idp.pem"),
            "{err}"
        );
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
