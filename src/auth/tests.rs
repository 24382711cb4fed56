//! Token checks as an identity provider (or an attacker) would exercise them: real keys generated
//! per test, real JWKS served over HTTP on loopback.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::config::StaffClaims;

const ISS: &str = "https://idp.example.se";
const PNR: &str = "191212121212";

fn tolvan() -> PersonId {
    PersonId::parse(PNR).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A signing key made for a test: the private half to sign with, the public half as a JWK (no
/// `kid`) and as a PEM file's text.
#[derive(Clone)]
struct TestKey {
    alg: Algorithm,
    signing: EncodingKey,
    jwk: Value,
    public_pem: String,
}

impl TestKey {
    fn ed25519() -> TestKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref();
        // SubjectPublicKeyInfo for Ed25519 (RFC 8410): a fixed prefix and the 32-byte key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(public);
        TestKey {
            alg: Algorithm::EdDSA,
            signing: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(public) }),
            public_pem: pem("PUBLIC KEY", &spki),
        }
    }

    fn es256() -> TestKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        // Uncompressed point: 0x04, x (32 bytes), y (32 bytes).
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        // SubjectPublicKeyInfo for a P-256 key (RFC 5480): a fixed prefix and the point.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(point);
        TestKey {
            alg: Algorithm::ES256,
            signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256",
                "x": b64(&point[1..33]), "y": b64(&point[33..]),
            }),
            public_pem: pem("PUBLIC KEY", &spki),
        }
    }

    /// One RSA key per test run: generating 2048-bit keys is slow, and no test needs two.
    fn rs256() -> TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
            let public = pair.public_key();
            let spki: aws_lc_rs::encoding::PublicKeyX509Der = public.as_der().unwrap();
            TestKey {
                alg: Algorithm::RS256,
                signing: EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
                    .unwrap(),
                jwk: json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                }),
                public_pem: pem("PUBLIC KEY", spki.as_ref()),
            }
        })
        .clone()
    }

    /// The public JWK with this `kid`.
    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = kid.into();
        jwk
    }

    fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
    }
}

/// Claims a person token from [`ISS`] would carry, valid for a minute, with `extra` added.
fn claims(extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "iss": ISS, "aud": "overblick", "sub": "u1", "iat": now, "exp": now + 60, "pnr": PNR,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn settings(alg: TokenAlgorithm, key: KeySource<'_>) -> IssuerSettings {
    let mut s = IssuerSettings::new(ISS, "overblick", alg, key);
    s.person_claim = "pnr".into();
    s.leeway = Duration::ZERO;
    s
}

/// An authenticator trusting [`ISS`] with `key`'s public half from a PEM file.
async fn file_issuer(key: &TestKey, alg: TokenAlgorithm) -> (Authenticator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.pem");
    std::fs::write(&path, &key.public_pem).unwrap();
    let auth = Authenticator::new(Mode::Production, &[settings(alg, KeySource::File(&path))])
        .await
        .unwrap();
    (auth, dir)
}

/// A JWKS served over HTTP on 127.0.0.1, counting the fetches; its keys can be changed and it
/// can be made to fail.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl JwksServer {
    async fn start(keys: Vec<Value>) -> JwksServer {
        let keys = Arc::new(Mutex::new(keys));
        let hits = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let (k, h, f) = (keys.clone(), hits.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (k, h, f) = (k.clone(), h.clone(), f.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    if f.load(Ordering::SeqCst) {
                        return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                    }
                    Ok(axum::Json(json!({ "keys": *k.lock().unwrap() })))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        JwksServer {
            url,
            keys,
            hits,
            failing,
        }
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn settings(&self, alg: TokenAlgorithm) -> IssuerSettings {
        settings(alg, KeySource::Jwks(&self.url))
    }

    async fn authenticator(&self, alg: TokenAlgorithm) -> Authenticator {
        Authenticator::new(Mode::Production, &[self.settings(alg)])
            .await
            .unwrap()
    }
}

async fn refusal(auth: &Authenticator, token: &str) -> AuthError {
    match auth.authenticate(Some(&bearer(token))).await {
        Err(refusal) => refusal,
        Ok(principal) => panic!("expected a refusal, got {principal:?}"),
    }
}

// ----- The demo issuer -----

async fn demo_auth() -> Authenticator {
    Authenticator::new(Mode::Demo, &[]).await.unwrap()
}

#[tokio::test]
async fn a_demo_token_authenticates_the_person_it_names() {
    let token = demo::mint(&tolvan(), Some("Tolvan"), Duration::from_secs(60));
    let p = demo_auth()
        .await
        .authenticate(Some(&bearer(&token)))
        .await
        .unwrap();
    assert_eq!(p.person(), Some(&tolvan()));
    assert_eq!(p.name(), Some("Tolvan"));
    assert!(p.staff().is_none());
    assert!(
        !p.subject.contains(PNR),
        "the subject does not spell out the personnummer: {}",
        p.subject
    );
}

#[tokio::test]
async fn a_demo_staff_token_authenticates_karin_at_gottsunda_with_every_claim() {
    let karin = demo::DEMO_STAFF.identity();
    let token = demo::mint_staff(&karin, Duration::from_secs(60));
    let p = demo_auth()
        .await
        .authenticate(Some(&bearer(&token)))
        .await
        .unwrap();
    assert_eq!(p.staff(), Some(&karin));
    assert!(p.person().is_none());
    let staff = p.staff().unwrap();
    assert_eq!(staff.hsa_id.as_str(), "SE2321000024-P1234");
    assert_eq!(staff.care_unit.as_str(), "SE2321000024-GOT001");
    assert_eq!(
        staff.care_unit_name.as_deref(),
        Some("Gottsunda vårdcentral")
    );
    assert_eq!(staff.care_provider.as_str(), "SE2321000024-0001");
    assert_eq!(staff.care_provider_name.as_deref(), Some("Region Uppsala"));
    assert_eq!(staff.profession.as_deref(), Some("Läkare"));
    assert_eq!(p.name(), Some("Karin Lindqvist"));
}

#[test]
fn the_demo_people_have_valid_identities_and_the_child_is_young() {
    for person in [
        demo::DEMO_PATIENT,
        demo::DEMO_GUARDIAN,
        demo::DEMO_CHILD,
        demo::DEMO_DELEGATE,
    ] {
        assert_eq!(person.id().digits(), person.personnummer);
    }
    assert_eq!(
        demo::DEMO_CHILD.id().birth_date(),
        chrono::NaiveDate::from_ymd_opt(2020, 6, 15).unwrap()
    );
    assert_eq!(demo::DEMO_PATIENT.id(), tolvan());
}

#[tokio::test]
async fn demo_tokens_are_refused_outside_the_demo() {
    let token = demo::mint(&tolvan(), None, Duration::from_secs(60));
    let prod = Authenticator::new(Mode::Production, &[]).await.unwrap();
    assert_eq!(refusal(&prod, &token).await, AuthError::UntrustedIssuer);
    let staff = demo::mint_staff(&demo::DEMO_STAFF.identity(), Duration::from_secs(60));
    assert_eq!(refusal(&prod, &staff).await, AuthError::UntrustedIssuer);
}

#[tokio::test]
async fn a_missing_or_odd_header_is_refused() {
    let auth = demo_auth().await;
    assert_eq!(
        auth.authenticate(None).await.unwrap_err(),
        AuthError::Missing
    );
    assert_eq!(
        auth.authenticate(Some("Basic dG9sdmFu")).await.unwrap_err(),
        AuthError::NotBearer
    );
    let malformed = refusal(&auth, "not.a.jwt").await;
    assert!(
        matches!(malformed, AuthError::Malformed(_)),
        "{malformed:?}"
    );
    // The library's account is kept as the cause; the client's text does not echo the token.
    assert!(std::error::Error::source(&malformed).is_some());
    assert_eq!(
        malformed.to_string(),
        "the bearer token is not valid: it is not a well-formed JWT"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let token = demo::mint_with(&tolvan(), None, -600, 60);
    assert_eq!(
        refusal(&demo_auth().await, &token).await,
        AuthError::Expired
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let token = demo::mint_with(&tolvan(), None, 3600, 600);
    assert_eq!(
        refusal(&demo_auth().await, &token).await,
        AuthError::NotYetValid
    );
}

#[tokio::test]
async fn an_unsigned_token_is_refused_with_or_without_a_stolen_signature() {
    let auth = demo_auth().await;
    let claims = json!({
        "iss": demo::ISSUER, "aud": demo::AUDIENCE, "sub": "x", "exp": 9999999999u64,
        demo::PERSON_CLAIM: PNR,
    });
    let real = demo::mint(&tolvan(), None, Duration::from_secs(60));
    let stolen_signature = real.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE"] {
        let unsigned = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        for signature in ["", stolen_signature] {
            let refused = refusal(&auth, &format!("{unsigned}.{signature}")).await;
            assert!(
                matches!(refused, AuthError::Malformed(_)),
                "alg {alg}: {refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let token = demo::mint(&tolvan(), None, Duration::from_secs(60));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let other = json!({
        "iss": demo::ISSUER, "aud": demo::AUDIENCE, "sub": "x", "exp": 9999999999u64,
        demo::PERSON_CLAIM: "198804122383",
    });
    parts[1] = b64(other.to_string().as_bytes());
    assert_eq!(
        refusal(&demo_auth().await, &parts.join(".")).await,
        AuthError::BadSignature
    );
}

// ----- Issuers with a key file -----

#[tokio::test]
async fn a_file_issuer_accepts_its_own_tokens_with_its_claim_and_nothing_else() {
    let key = TestKey::ed25519();
    let (auth, _dir) = file_issuer(&key, TokenAlgorithm::EdDSA).await;
    let good = key.sign(None, &claims(json!({ "name": "Tolvan Tolvansson" })));
    let p = auth.authenticate(Some(&bearer(&good))).await.unwrap();
    assert_eq!(p.person(), Some(&tolvan()));
    assert_eq!(p.name(), Some("Tolvan Tolvansson"));
    assert_eq!((p.issuer.as_str(), p.subject.as_str()), (ISS, "u1"));

    let bad_pnr = key.sign(None, &claims(json!({ "pnr": "19121212-1213" })));
    assert_eq!(refusal(&auth, &bad_pnr).await, AuthError::NoPerson);
    let no_sub = key.sign(None, &claims(json!({ "sub": null })));
    assert_eq!(refusal(&auth, &no_sub).await, AuthError::NoSubject);
    let no_exp = key.sign(None, &claims(json!({ "exp": null })));
    assert_eq!(refusal(&auth, &no_exp).await, AuthError::MissingClaim);
    // Production never trusts the demo issuer.
    let demo = demo::mint(&tolvan(), None, Duration::from_secs(60));
    assert_eq!(refusal(&auth, &demo).await, AuthError::UntrustedIssuer);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let key = TestKey::ed25519();
    let (auth, _dir) = file_issuer(&key, TokenAlgorithm::EdDSA).await;
    let token = key.sign(None, &claims(json!({ "aud": "someone-else" })));
    assert_eq!(refusal(&auth, &token).await, AuthError::WrongAudience);
    let no_aud = key.sign(None, &claims(json!({ "aud": null })));
    assert_eq!(refusal(&auth, &no_aud).await, AuthError::MissingClaim);
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused_even_when_signed_with_a_trusted_key() {
    let key = TestKey::ed25519();
    let (auth, _dir) = file_issuer(&key, TokenAlgorithm::EdDSA).await;
    let token = key.sign(None, &claims(json!({ "iss": "https://evil.example" })));
    assert_eq!(refusal(&auth, &token).await, AuthError::UntrustedIssuer);
    let no_iss = key.sign(None, &claims(json!({ "iss": null })));
    assert_eq!(refusal(&auth, &no_iss).await, AuthError::NoIssuer);
}

#[tokio::test]
async fn a_token_signed_with_another_key_than_the_issuers_file_is_refused() {
    let (auth, _dir) = file_issuer(&TestKey::ed25519(), TokenAlgorithm::EdDSA).await;
    let token = TestKey::ed25519().sign(None, &claims(json!({})));
    assert_eq!(refusal(&auth, &token).await, AuthError::BadSignature);
}

#[tokio::test]
async fn tokens_are_checked_with_the_expiry_and_start_and_a_leeway_of_the_issuer() {
    let key = TestKey::es256();
    let (auth, _dir) = file_issuer(&key, TokenAlgorithm::ES256).await;
    let now = chrono::Utc::now().timestamp();
    let expired = key.sign(None, &claims(json!({ "exp": now - 5 })));
    assert_eq!(refusal(&auth, &expired).await, AuthError::Expired);
    let early = key.sign(None, &claims(json!({ "nbf": now + 30 })));
    assert_eq!(refusal(&auth, &early).await, AuthError::NotYetValid);
    let fine = key.sign(None, &claims(json!({ "nbf": now - 1 })));
    assert!(auth.authenticate(Some(&bearer(&fine))).await.is_ok());
}

/// The classic key-confusion attack: the issuer's RSA public key is public, so an attacker
/// signs with HMAC using its bytes as the secret and hopes the server lets the token choose.
#[tokio::test]
async fn an_hs256_token_signed_with_the_issuers_public_key_as_secret_is_refused() {
    let key = TestKey::rs256();
    let (auth, _dir) = file_issuer(&key, TokenAlgorithm::RS256).await;
    let genuine = key.sign(None, &claims(json!({})));
    assert!(auth.authenticate(Some(&bearer(&genuine))).await.is_ok());
    let pem_bytes = key.public_pem.as_bytes().to_vec();
    let der_bytes = base64::engine::general_purpose::STANDARD
        .decode(
            key.public_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    for secret in [pem_bytes, der_bytes] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let forged = jsonwebtoken::encode(
                &Header::new(alg),
                &claims(json!({})),
                &EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(refusal(&auth, &forged).await, AuthError::WrongAlgorithm);
        }
    }
}

#[tokio::test]
async fn a_token_in_another_asymmetric_algorithm_than_the_pinned_one_is_refused() {
    // The issuer signs with RS256; an ES256 token, even signed by a key the attacker controls
    // and with a header that asks for it, is refused before any key is tried.
    let (auth, _dir) = file_issuer(&TestKey::rs256(), TokenAlgorithm::RS256).await;
    let token = TestKey::es256().sign(None, &claims(json!({})));
    assert_eq!(refusal(&auth, &token).await, AuthError::WrongAlgorithm);
}

#[tokio::test]
async fn a_missing_or_unreadable_issuer_key_stops_startup_with_the_issuer_named() {
    let s = settings(
        TokenAlgorithm::RS256,
        KeySource::File(std::path::Path::new("/nonexistent/idp.pem")),
    );
    let err = Authenticator::new(Mode::Production, &[s])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(ISS) && err.contains("idp.pem"), "{err}");

    // An Ed25519 key where the issuer is configured for RS256.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ed.pem");
    std::fs::write(&path, TestKey::ed25519().public_pem).unwrap();
    let s = settings(TokenAlgorithm::RS256, KeySource::File(&path));
    let err = Authenticator::new(Mode::Production, &[s])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("RS256"), "{err}");
}

#[tokio::test]
async fn an_issuer_with_both_or_no_key_sources_or_a_plain_http_jwks_elsewhere_stops_startup() {
    let mut both = settings(
        TokenAlgorithm::EdDSA,
        KeySource::Jwks("https://idp.example.se/jwks"),
    );
    both.public_key_file = Some("idp.pem".into());
    let mut neither = both.clone();
    neither.public_key_file = None;
    neither.jwks_url = None;
    let remote_http = settings(
        TokenAlgorithm::EdDSA,
        KeySource::Jwks("http://idp.example.se/jwks?key=s3cret"),
    );
    let not_a_url = settings(TokenAlgorithm::EdDSA, KeySource::Jwks("idp/jwks"));
    for (s, expected) in [
        (both, "jwks_url"),
        (neither, "public_key_file"),
        (remote_http, "https"),
        (not_a_url, "not a URL"),
    ] {
        let err = Authenticator::new(Mode::Production, &[s])
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(ISS) && err.contains(expected), "{err}");
        assert!(!err.contains("s3cret"), "the URL is not repeated: {err}");
    }
}

// ----- Issuers with a JWKS -----

#[tokio::test]
async fn a_jwks_issuer_accepts_rs256_es256_and_eddsa_tokens_by_kid_after_one_fetch() {
    for (key, alg) in [
        (TestKey::rs256(), TokenAlgorithm::RS256),
        (TestKey::es256(), TokenAlgorithm::ES256),
        (TestKey::ed25519(), TokenAlgorithm::EdDSA),
    ] {
        let other = TestKey::ed25519();
        let server = JwksServer::start(vec![other.jwk("other"), key.jwk("k1")]).await;
        let auth = server.authenticator(alg).await;
        assert_eq!(server.hits(), 1, "fetched once at startup");
        for _ in 0..3 {
            let token = key.sign(Some("k1"), &claims(json!({})));
            let p = auth.authenticate(Some(&bearer(&token))).await.unwrap();
            assert_eq!(p.person(), Some(&tolvan()), "{alg:?}");
        }
        assert_eq!(server.hits(), 1, "known keys come from the cache ({alg:?})");
    }
}

#[tokio::test]
async fn a_jwks_token_naming_a_published_kid_but_signed_by_another_key_is_refused() {
    let key = TestKey::ed25519();
    let server = JwksServer::start(vec![key.jwk("k1")]).await;
    let auth = server.authenticator(TokenAlgorithm::EdDSA).await;
    let forged = TestKey::ed25519().sign(Some("k1"), &claims(json!({})));
    assert_eq!(refusal(&auth, &forged).await, AuthError::BadSignature);
}

#[tokio::test]
async fn a_jwks_token_with_an_unknown_kid_or_none_is_refused() {
    let key = TestKey::es256();
    let server = JwksServer::start(vec![key.jwk("k1")]).await;
    let auth = server.authenticator(TokenAlgorithm::ES256).await;
    let unknown = TestKey::es256().sign(Some("k2"), &claims(json!({})));
    assert_eq!(refusal(&auth, &unknown).await, AuthError::UnknownKey);
    let no_kid = key.sign(None, &claims(json!({})));
    assert_eq!(refusal(&auth, &no_kid).await, AuthError::NoKeyId);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_the_first_token_with_it_and_the_retired_one_dropped() {
    let old = TestKey::ed25519();
    let new = TestKey::ed25519();
    let server = JwksServer::start(vec![old.jwk("2025-01")]).await;
    let auth = server.authenticator(TokenAlgorithm::EdDSA).await;
    let old_token = old.sign(Some("2025-01"), &claims(json!({})));
    assert!(auth.authenticate(Some(&bearer(&old_token))).await.is_ok());

    server.serve(vec![new.jwk("2025-02")]);
    let new_token = new.sign(Some("2025-02"), &claims(json!({})));
    let p = auth.authenticate(Some(&bearer(&new_token))).await.unwrap();
    assert_eq!(p.person(), Some(&tolvan()));
    assert_eq!(server.hits(), 2);
    // The refreshed set no longer has the old key, and the interval has not passed.
    assert_eq!(refusal(&auth, &old_token).await, AuthError::UnknownKey);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn many_unknown_kids_within_the_interval_cause_at_most_one_refetch() {
    let key = TestKey::ed25519();
    let server = JwksServer::start(vec![key.jwk("k1")]).await;
    let mut s = server.settings(TokenAlgorithm::EdDSA);
    s.jwks_refresh_interval = Duration::from_millis(700);
    let auth = Authenticator::new(Mode::Production, &[s]).await.unwrap();
    assert_eq!(server.hits(), 1);

    let attacker = TestKey::ed25519();
    let tokens: Vec<String> = (0..20)
        .map(|i| attacker.sign(Some(&format!("made-up-{i}")), &claims(json!({}))))
        .collect();
    // Concurrently, then one after another.
    let refusals = futures::future::join_all(tokens[..10].iter().map(|t| refusal(&auth, t))).await;
    assert!(refusals.iter().all(|r| *r == AuthError::UnknownKey));
    for t in &tokens[10..] {
        assert_eq!(refusal(&auth, t).await, AuthError::UnknownKey);
    }
    assert_eq!(server.hits(), 2, "one refetch for twenty unknown kids");
    // The known key still works meanwhile, from the cache.
    let good = key.sign(Some("k1"), &claims(json!({})));
    assert!(auth.authenticate(Some(&bearer(&good))).await.is_ok());
    assert_eq!(server.hits(), 2);

    // Once the interval has passed, an unknown kid may fetch again, once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for t in &tokens[..5] {
        assert_eq!(refusal(&auth, t).await, AuthError::UnknownKey);
    }
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_token_in_a_foreign_algorithm_makes_no_jwks_fetch() {
    let server = JwksServer::start(vec![TestKey::es256().jwk("k1")]).await;
    let auth = server.authenticator(TokenAlgorithm::ES256).await;
    for token in [
        TestKey::ed25519().sign(Some("new"), &claims(json!({}))),
        TestKey::rs256().sign(Some("new"), &claims(json!({}))),
    ] {
        assert_eq!(refusal(&auth, &token).await, AuthError::WrongAlgorithm);
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_jwks_key_whose_type_curve_use_or_alg_disagrees_with_the_pinned_algorithm_is_never_used()
{
    let rsa = TestKey::rs256();
    let ec = TestKey::es256();
    let secret = b"an HMAC secret some IdP published by mistake";
    let mut declared_es256 = rsa.jwk("rsa-declared-es256");
    declared_es256["alg"] = "ES256".into();
    let mut for_encryption = rsa.jwk("rsa-for-encryption");
    for_encryption["use"] = "enc".into();
    let mut ec_on_p384_label = ec.jwk("ec-p384");
    ec_on_p384_label["crv"] = "P-384".into();
    let server = JwksServer::start(vec![
        json!({ "kty": "oct", "kid": "hmac", "k": b64(secret) }),
        json!({ "kty": "RSA", "kid": "broken", "n": 5 }),
        declared_es256,
        for_encryption,
        ec.jwk("ec"),
        rsa.jwk("good"),
    ])
    .await;
    let auth = server.authenticator(TokenAlgorithm::RS256).await;
    // The one usable key works: the keys the library cannot read did not spoil the set.
    let good = rsa.sign(Some("good"), &claims(json!({})));
    assert!(auth.authenticate(Some(&bearer(&good))).await.is_ok());

    let hmac = jsonwebtoken::encode(
        &Header {
            kid: Some("hmac".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(json!({})),
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    assert_eq!(refusal(&auth, &hmac).await, AuthError::WrongAlgorithm);
    for kid in ["hmac", "rsa-declared-es256", "rsa-for-encryption", "ec"] {
        let token = rsa.sign(Some(kid), &claims(json!({})));
        assert_eq!(refusal(&auth, &token).await, AuthError::UnknownKey, "{kid}");
    }
    // And an ES256 issuer does not take a P-256 key labelled as P-384.
    let server = JwksServer::start(vec![ec_on_p384_label]).await;
    let auth = server.authenticator(TokenAlgorithm::ES256).await;
    let token = ec.sign(Some("ec-p384"), &claims(json!({})));
    assert_eq!(refusal(&auth, &token).await, AuthError::UnknownKey);
}

#[tokio::test]
async fn a_jwks_unreachable_at_startup_does_not_stop_it_and_is_fetched_when_a_token_needs_it() {
    let key = TestKey::ed25519();
    let server = JwksServer::start(vec![key.jwk("k1")]).await;
    server.failing.store(true, Ordering::SeqCst);
    let mut s = server.settings(TokenAlgorithm::EdDSA);
    s.jwks_refresh_interval = Duration::from_millis(300);
    let auth = Authenticator::new(Mode::Production, &[s]).await.unwrap();
    assert_eq!(server.hits(), 1);

    // Still down: the token cannot be verified.
    let token = key.sign(Some("k1"), &claims(json!({})));
    assert_eq!(refusal(&auth, &token).await, AuthError::KeysUnavailable);
    assert_eq!(server.hits(), 2, "retried on demand");
    assert_eq!(refusal(&auth, &token).await, AuthError::KeysUnavailable);
    assert_eq!(server.hits(), 2, "not retried at once");

    // Back up: after the (short) retry delay the next token fetches and is accepted.
    server.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(auth.authenticate(Some(&bearer(&token))).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn an_issuer_whose_jwks_host_is_down_at_startup_refuses_its_tokens_but_the_service_starts() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/jwks");
    let auth = Authenticator::new(
        Mode::Production,
        &[settings(TokenAlgorithm::EdDSA, KeySource::Jwks(&url))],
    )
    .await
    .unwrap();
    let token = TestKey::ed25519().sign(Some("k1"), &claims(json!({})));
    assert_eq!(refusal(&auth, &token).await, AuthError::KeysUnavailable);
}

// ----- Persons and staff -----

fn staff_claims(hsa: &str, unit: &str, provider: &str) -> Value {
    let c = StaffClaims::default();
    json!({
        c.hsa_id.clone(): hsa,
        c.name.clone(): "Karin Lindqvist",
        c.profession.clone(): ["Läkare", "Specialist i allmänmedicin"],
        c.care_unit.clone(): unit,
        c.care_unit_name.clone(): "Gottsunda vårdcentral",
        c.care_provider.clone(): provider,
        c.care_provider_name.clone(): "Region Uppsala",
    })
}

fn karin_claims() -> Value {
    let mut c = claims(staff_claims(
        "SE2321000024-P1234",
        "SE2321000024-GOT001",
        "SE2321000024-0001",
    ));
    c.as_object_mut().unwrap().remove("pnr");
    c
}

async fn issuer_for(
    key: &TestKey,
    principals: &[PrincipalType],
) -> (Authenticator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.pem");
    std::fs::write(&path, &key.public_pem).unwrap();
    let mut s = settings(TokenAlgorithm::EdDSA, KeySource::File(&path));
    s.principals = principals.to_vec();
    let auth = Authenticator::new(Mode::Production, &[s]).await.unwrap();
    (auth, dir)
}

#[tokio::test]
async fn a_citizen_issuers_token_with_staff_claims_does_not_yield_staff() {
    let key = TestKey::ed25519();
    let (auth, _dir) = issuer_for(&key, &[PrincipalType::Person]).await;
    // Staff claims beside a personnummer: the person, nothing more.
    let mut both = karin_claims();
    both["pnr"] = PNR.into();
    let p = auth
        .authenticate(Some(&bearer(&key.sign(None, &both))))
        .await
        .unwrap();
    assert!(p.staff().is_none());
    assert_eq!(p.person(), Some(&tolvan()));
    // Staff claims alone: nobody.
    let staff_only = key.sign(None, &karin_claims());
    assert_eq!(refusal(&auth, &staff_only).await, AuthError::NoPerson);
}

#[tokio::test]
async fn a_staff_issuers_token_yields_the_staff_member_with_unit_provider_and_profession() {
    let key = TestKey::ed25519();
    let (auth, _dir) = issuer_for(&key, &[PrincipalType::Staff]).await;
    let p = auth
        .authenticate(Some(&bearer(&key.sign(None, &karin_claims()))))
        .await
        .unwrap();
    assert_eq!(p.staff(), Some(&demo::DEMO_STAFF.identity()));
    assert!(p.person().is_none());
    // A staff issuer's token with a personnummer only is no staff token, and no person token.
    let person = key.sign(None, &claims(json!({})));
    assert_eq!(refusal(&auth, &person).await, AuthError::NoStaffHsaId);
}

#[tokio::test]
async fn a_staff_token_without_a_valid_hsa_id_unit_or_provider_is_refused() {
    let key = TestKey::ed25519();
    let (auth, _dir) = issuer_for(&key, &[PrincipalType::Staff, PrincipalType::Person]).await;
    let c = StaffClaims::default();
    for (claim, reason) in [
        (&c.hsa_id, AuthError::NoStaffHsaId),
        (&c.care_unit, AuthError::NoCareUnit),
        (&c.care_provider, AuthError::NoCareProvider),
    ] {
        let mut missing = karin_claims();
        missing.as_object_mut().unwrap().remove(claim);
        let mut invalid = karin_claims();
        invalid[claim] = "SE2321000024".into();
        let mut blank = karin_claims();
        blank[claim] = "".into();
        for (what, token_claims) in [("invalid", invalid), ("blank", blank)] {
            assert_eq!(
                refusal(&auth, &key.sign(None, &token_claims)).await,
                reason,
                "{what} {claim}"
            );
        }
        // Without the staff HSA-id the token is read as a person's, and has no personnummer.
        let expected = if claim == &c.hsa_id {
            AuthError::NoPerson
        } else {
            reason
        };
        assert_eq!(
            refusal(&auth, &key.sign(None, &missing)).await,
            expected,
            "missing {claim}"
        );
    }
}

#[tokio::test]
async fn an_issuer_for_both_reads_staff_claims_as_staff_and_a_personnummer_as_a_person() {
    let key = TestKey::ed25519();
    let (auth, _dir) = issuer_for(&key, &[PrincipalType::Person, PrincipalType::Staff]).await;
    let staff = auth
        .authenticate(Some(&bearer(&key.sign(None, &karin_claims()))))
        .await
        .unwrap();
    assert_eq!(staff.staff().unwrap().hsa_id.as_str(), "SE2321000024-P1234");
    let person = auth
        .authenticate(Some(&bearer(&key.sign(None, &claims(json!({}))))))
        .await
        .unwrap();
    assert_eq!(person.person(), Some(&tolvan()));
}

#[tokio::test]
async fn renamed_staff_claims_are_read_from_their_configured_names() {
    let key = TestKey::ed25519();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.pem");
    std::fs::write(&path, &key.public_pem).unwrap();
    let mut s = settings(TokenAlgorithm::EdDSA, KeySource::File(&path));
    s.principals = vec![PrincipalType::Staff];
    s.staff_claims.hsa_id = "hsa".into();
    s.staff_claims.care_unit = "unit".into();
    s.staff_claims.care_provider = "provider".into();
    let auth = Authenticator::new(Mode::Production, &[s]).await.unwrap();
    let token = key.sign(
        None,
        &claims(json!({
            "hsa": "SE2321000024-P1234", "unit": "SE2321000024-GOT001",
            "provider": "SE2321000024-0001",
        })),
    );
    let p = auth.authenticate(Some(&bearer(&token))).await.unwrap();
    let staff = p.staff().unwrap();
    assert_eq!(staff.care_unit.as_str(), "SE2321000024-GOT001");
    assert_eq!(staff.name, None);
    // The default names mean nothing to this issuer.
    let defaults = key.sign(None, &karin_claims());
    assert_eq!(refusal(&auth, &defaults).await, AuthError::NoStaffHsaId);
}

#[test]
fn a_principal_printed_for_debugging_shows_no_name_personnummer_or_subject() {
    let person = Principal {
        issuer: ISS.into(),
        subject: format!("se-bankid:{PNR}"),
        kind: PrincipalKind::Person {
            person: tolvan(),
            name: Some("Tolvan Tolvansson".into()),
        },
    };
    let staff = Principal {
        issuer: ISS.into(),
        subject: "u2".into(),
        kind: PrincipalKind::Staff(demo::DEMO_STAFF.identity()),
    };
    for p in [person, staff] {
        let shown = format!("{p:?}");
        for secret in [PNR, "121212", "Tolvan", "Karin", "Lindqvist"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
