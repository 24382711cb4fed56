//! Who is asking: bearer JWTs checked against configured issuers (signature with an algorithm
//! pinned per issuer and a key from a file or the issuer's JWKS, `iss`, `aud`, `exp`, `nbf`) and
//! turned into a [`Principal`]: a person or care staff. Identity comes from verified claims only,
//! never from query arguments; what a person may do (as patient, guardian or delegate) is decided
//! per request by the access rules, not here.

pub mod demo;
mod jwks;

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{IssuerSettings, KeySource, Mode, PrincipalType, StaffClaims, TokenAlgorithm};
use crate::domain::{HsaId, PersonId};

/// The signed-in user, as established from a verified token. `Debug` leaves the subject and
/// names out: some identity providers use the personnummer as subject.
#[derive(Clone)]
pub struct Principal {
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    pub kind: PrincipalKind,
}

/// Who the signed-in user is. `Debug` leaves names out: principals must never put a name in a log.
#[derive(Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person, by personnummer or samordningsnummer. Whether they read as patient, guardian or
    /// delegate depends on whose data they ask for.
    Person {
        person: PersonId,
        name: Option<String>,
    },
    /// Care staff, signed in at one care unit of one care provider.
    Staff(StaffIdentity),
}

/// A member of care staff as their identity provider vouches for them.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffIdentity {
    /// Their own HSA-id.
    pub hsa_id: HsaId,
    pub name: Option<String>,
    /// Profession or title, e.g. "Läkare".
    pub profession: Option<String>,
    /// The care unit they are signed in at.
    pub care_unit: HsaId,
    pub care_unit_name: Option<String>,
    /// The care provider (vårdgivare) that unit belongs to.
    pub care_provider: HsaId,
    pub care_provider_name: Option<String>,
}

impl Principal {
    /// The person signed in, if a person is.
    pub fn person(&self) -> Option<&PersonId> {
        match &self.kind {
            PrincipalKind::Person { person, .. } => Some(person),
            PrincipalKind::Staff(_) => None,
        }
    }

    /// The staff member signed in, if staff is.
    pub fn staff(&self) -> Option<&StaffIdentity> {
        match &self.kind {
            PrincipalKind::Staff(staff) => Some(staff),
            PrincipalKind::Person { .. } => None,
        }
    }

    /// The display name the token carries, if any.
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::Person { name, .. } => name.as_deref(),
            PrincipalKind::Staff(staff) => staff.name.as_deref(),
        }
    }
}

/// `Some(..)` or `None`, never the name itself.
struct Redacted<'a>(&'a Option<String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(<redacted>)"
        } else {
            "None"
        })
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("issuer", &self.issuer)
            .field("subject", &"<redacted>")
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Debug for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalKind::Person { person, name } => f
                .debug_struct("Person")
                .field("person", person)
                .field("name", &Redacted(name))
                .finish(),
            PrincipalKind::Staff(staff) => f.debug_tuple("Staff").field(staff).finish(),
        }
    }
}

impl fmt::Debug for StaffIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffIdentity")
            .field("hsa_id", &self.hsa_id)
            .field("name", &Redacted(&self.name))
            .field("profession", &self.profession)
            .field("care_unit", &self.care_unit)
            .field("care_unit_name", &self.care_unit_name)
            .field("care_provider", &self.care_provider)
            .field("care_provider_name", &self.care_provider_name)
            .finish()
    }
}

/// Why a request was not authenticated: one variant per check that failed. The messages are
/// safe to send to the client (they never echo the token); every one but `Missing` is an
/// invalid token (`WWW-Authenticate: Bearer error="invalid_token"`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this API needs a bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    /// Not three base64url parts of JSON (or `alg: none`, which the library does not know).
    #[error("the bearer token is not valid: it is not a well-formed JWT")]
    Malformed(#[source] jsonwebtoken::errors::Error),
    #[error("the bearer token is not valid: it names no issuer")]
    NoIssuer,
    /// No configured issuer has the token's `iss` (or the library found it differs).
    #[error("the bearer token is not valid: its issuer is not trusted here")]
    UntrustedIssuer,
    /// The token's `alg` is not the one pinned for its issuer.
    #[error(
        "the bearer token is not valid: it is signed with an algorithm this issuer does not use"
    )]
    WrongAlgorithm,
    #[error(
        "the bearer token is not valid: it does not name its signing key (`kid`), which this issuer requires"
    )]
    NoKeyId,
    #[error("the bearer token is not valid: it is signed with a key this issuer does not publish")]
    UnknownKey,
    #[error(
        "the bearer token is not valid: its issuer's signing keys cannot be fetched just now, so it cannot be verified"
    )]
    KeysUnavailable,
    #[error("the bearer token is not valid: it has expired")]
    Expired,
    #[error("the bearer token is not valid: it is not valid yet")]
    NotYetValid,
    #[error("the bearer token is not valid: it is meant for another audience")]
    WrongAudience,
    #[error("the bearer token is not valid: its signature does not verify")]
    BadSignature,
    #[error("the bearer token is not valid: it lacks a required claim (exp, iss or aud)")]
    MissingClaim,
    /// Any other failure of the verification (a key that does not fit, claims that are not
    /// JSON, ...): the library's error says which.
    #[error("the bearer token is not valid: it could not be verified")]
    Unverifiable(#[source] jsonwebtoken::errors::Error),
    #[error("the bearer token is not valid: it has no subject")]
    NoSubject,
    #[error("the bearer token is not valid: it carries no valid personal identity number")]
    NoPerson,
    #[error("the bearer token is not valid: it does not carry the staff member's valid HSA-id")]
    NoStaffHsaId,
    #[error(
        "the bearer token is not valid: it does not name the care unit (a valid HSA-id) the staff member is signed in at"
    )]
    NoCareUnit,
    #[error(
        "the bearer token is not valid: it does not name the care provider (a valid HSA-id) of the staff member's unit"
    )]
    NoCareProvider,
}

/// Why the token issuers could not be set up at startup.
#[derive(Debug, thiserror::Error)]
#[error("issuer {issuer}: {message}")]
pub struct AuthConfigError {
    pub issuer: String,
    pub message: String,
}

enum IssuerKeys {
    /// One key, from a file (or the demo's built-in one): any `kid` or none.
    Fixed(DecodingKey),
    /// The issuer's published keys, chosen by the token's `kid`.
    Jwks(Arc<jwks::JwksKeys>),
}

struct TrustedIssuer {
    issuer: String,
    algorithm: Algorithm,
    keys: IssuerKeys,
    validation: Validation,
    persons: bool,
    staff: bool,
    person_claim: String,
    staff_claims: StaffClaims,
}

/// Checks bearer tokens against the trusted issuers.
pub struct Authenticator {
    issuers: Vec<TrustedIssuer>,
}

/// The claims read before the signature is checked: only to choose which issuer's key and rules
/// to check it with. Nothing in them is trusted until `decode` has verified the token.
#[derive(Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

impl Authenticator {
    /// Sets up the configured issuers (in demo mode the built-in development issuer too) and
    /// fetches the JWKS of those that publish one. A JWKS that cannot be fetched now is logged
    /// and fetched again when a token needs it; a missing key file or bad setting stops startup.
    pub async fn new(mode: Mode, issuers: &[IssuerSettings]) -> Result<Self, AuthConfigError> {
        let client = reqwest::Client::builder()
            .timeout(jwks::FETCH_TIMEOUT)
            .connect_timeout(jwks::FETCH_TIMEOUT)
            // The configured URL is the one trusted; a redirect could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthConfigError {
                issuer: "(all)".into(),
                message: format!("cannot build the HTTP client for JWKS: {e}"),
            })?;
        let mut trusted = Vec::new();
        for settings in issuers {
            trusted.push(trusted_issuer(settings, &client)?);
        }
        if mode == Mode::Demo {
            trusted.push(TrustedIssuer {
                issuer: demo::ISSUER.to_owned(),
                algorithm: Algorithm::EdDSA,
                keys: IssuerKeys::Fixed(demo::decoding_key()),
                validation: validation(Algorithm::EdDSA, demo::ISSUER, demo::AUDIENCE, 30),
                persons: true,
                staff: true,
                person_claim: demo::PERSON_CLAIM.to_owned(),
                staff_claims: StaffClaims::default(),
            });
        }
        futures::future::join_all(trusted.iter().filter_map(|i| match &i.keys {
            IssuerKeys::Jwks(keys) => Some(keys.load()),
            IssuerKeys::Fixed(_) => None,
        }))
        .await;
        Ok(Authenticator { issuers: trusted })
    }

    /// Authenticates the value of an `Authorization` header.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NotBearer)?;
        // Unverified: only to pick the issuer and its key. `alg: none` fails here already, as
        // no such algorithm exists for the library.
        let unverified = jsonwebtoken::dangerous::insecure_decode::<UnverifiedClaims>(token)
            .map_err(AuthError::Malformed)?;
        let iss = unverified.claims.iss.ok_or(AuthError::NoIssuer)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(AuthError::UntrustedIssuer)?;
        // Checked before any key is looked up, so a token with a foreign algorithm never makes
        // the service fetch keys.
        if unverified.header.alg != issuer.algorithm {
            return Err(AuthError::WrongAlgorithm);
        }
        let key = match &issuer.keys {
            IssuerKeys::Fixed(key) => key.clone(),
            IssuerKeys::Jwks(keys) => {
                let kid = unverified.header.kid.as_deref().ok_or(AuthError::NoKeyId)?;
                keys.key(kid).await.map_err(|e| match e {
                    jwks::KeyError::Unknown => AuthError::UnknownKey,
                    jwks::KeyError::Unavailable => AuthError::KeysUnavailable,
                })?
            }
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &issuer.validation)
            .map_err(refusal)?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(AuthError::NoSubject)?
            .to_owned();
        Ok(Principal {
            issuer: issuer.issuer.clone(),
            subject,
            kind: issuer.principal_kind(&claims)?,
        })
    }
}

impl TrustedIssuer {
    /// Staff when the issuer vouches for staff and the token carries a staff HSA-id claim (or
    /// the issuer vouches for staff only); else a person. An issuer that does not vouch for
    /// staff never yields staff, whatever its tokens carry.
    fn principal_kind(&self, claims: &Map<String, Value>) -> Result<PrincipalKind, AuthError> {
        let c = &self.staff_claims;
        if self.staff && (!self.persons || claims.contains_key(&c.hsa_id)) {
            let id = |claim: &str, missing: AuthError| {
                string_claim(claims, claim)
                    .and_then(|s| HsaId::parse(&s).ok())
                    .ok_or(missing)
            };
            return Ok(PrincipalKind::Staff(StaffIdentity {
                hsa_id: id(&c.hsa_id, AuthError::NoStaffHsaId)?,
                care_unit: id(&c.care_unit, AuthError::NoCareUnit)?,
                care_provider: id(&c.care_provider, AuthError::NoCareProvider)?,
                name: string_claim(claims, &c.name),
                profession: string_claim(claims, &c.profession),
                care_unit_name: string_claim(claims, &c.care_unit_name),
                care_provider_name: string_claim(claims, &c.care_provider_name),
            }));
        }
        let person = claims
            .get(&self.person_claim)
            .and_then(Value::as_str)
            .and_then(|s| PersonId::parse(s).ok())
            .ok_or(AuthError::NoPerson)?;
        Ok(PrincipalKind::Person {
            person,
            name: string_claim(claims, "name"),
        })
    }
}

/// A non-empty text claim; of a list (some IdPs send titles as one), the first entry.
fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    let value = match claims.get(name)? {
        Value::Array(values) => values.first()?,
        other => other,
    };
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn trusted_issuer(
    settings: &IssuerSettings,
    client: &reqwest::Client,
) -> Result<TrustedIssuer, AuthConfigError> {
    let fail = |message: String| AuthConfigError {
        issuer: settings.issuer.clone(),
        message,
    };
    settings.check().map_err(fail)?;
    let algorithm = match settings.algorithm {
        TokenAlgorithm::RS256 => Algorithm::RS256,
        TokenAlgorithm::ES256 => Algorithm::ES256,
        TokenAlgorithm::EdDSA => Algorithm::EdDSA,
    };
    let keys = match settings.key_source().map_err(fail)? {
        KeySource::File(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            let key = match settings.algorithm {
                TokenAlgorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
                TokenAlgorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                TokenAlgorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
            }
            .map_err(|e| {
                fail(format!(
                    "{} is not a {:?} public key in PEM: {e}",
                    path.display(),
                    settings.algorithm
                ))
            })?;
            IssuerKeys::Fixed(key)
        }
        KeySource::Jwks(url) => IssuerKeys::Jwks(Arc::new(jwks::JwksKeys::new(
            &settings.issuer,
            jwks_url(url).map_err(fail)?,
            algorithm,
            settings.jwks_refresh_interval,
            client.clone(),
        ))),
    };
    Ok(TrustedIssuer {
        issuer: settings.issuer.clone(),
        algorithm,
        keys,
        validation: validation(
            algorithm,
            &settings.issuer,
            &settings.audience,
            settings.leeway.as_secs(),
        ),
        persons: settings.vouches_for(PrincipalType::Person),
        staff: settings.vouches_for(PrincipalType::Staff),
        person_claim: settings.person_claim.clone(),
        staff_claims: settings.staff_claims.clone(),
    })
}

/// The JWKS URL, if it is one keys may be trusted from: HTTPS, or plain HTTP to this machine
/// (a local identity provider, the tests), where nobody can alter the keys on the way.
fn jwks_url(text: &str) -> Result<reqwest::Url, String> {
    // The URL itself is not repeated in errors: it may carry an access key.
    let url = reqwest::Url::parse(text).map_err(|e| format!("`jwks_url` is not a URL ({e})"))?;
    let loopback = url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("`jwks_url` must be https (plain http only to this machine)".into()),
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

/// The refusal a failed verification gives.
fn refusal(error: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match error.kind() {
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::UntrustedIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::InvalidSignature => AuthError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::WrongAlgorithm,
        K::MissingRequiredClaim(_) => AuthError::MissingClaim,
        _ => AuthError::Unverifiable(error),
    }
}

#[cfg(test)]
mod tests;
