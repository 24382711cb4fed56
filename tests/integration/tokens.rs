//! Refused tokens over HTTP: every kind of bad token gets 401 with `WWW-Authenticate`, and no
//! source is asked for anything. The service trusts, besides the demo issuer, an issuer with a
//! PEM key file (RS256) and one with a JWKS served on loopback (EdDSA).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use overblick::auth::{AuthError, demo};
use overblick::config::{IssuerSettings, KeySource, PrincipalType, StaffClaims, TokenAlgorithm};
use overblick::domain::PersonId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TOLVAN, TestApp, error_codes};

const MEDS: &str = "{ overview { medications { name } } }";
const FILE_ISS: &str = "https://citizen-idp.example.se";
const JWKS_ISS: &str = "https://staff-idp.example.se";
const PNR: &str = "191212121212";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The RS256 key of the file issuer: the signing key and the public key as PEM.
fn rsa_key() -> (EncodingKey, String) {
    let pem = |label: &str, der: &[u8]| {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    };
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
    let spki: aws_lc_rs::encoding::PublicKeyX509Der = pair.public_key().as_der().unwrap();
    (
        EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap(),
        pem("PUBLIC KEY", spki.as_ref()),
    )
}

/// An Ed25519 key: the signing key and its public JWK with `kid`.
fn ed_key(kid: &str) -> (EncodingKey, Value) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    (
        EncodingKey::from_ed_der(pkcs8.as_ref()),
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref()) }),
    )
}

/// Serves `{"keys": [jwk]}` on 127.0.0.1 and returns its URL.
async fn serve_jwks(jwk: Value) -> String {
    let body = json!({ "keys": [jwk] });
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Valid claims from `iss` for Tolvan, with `extra` set (a null removes a claim).
fn claims(iss: &str, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "iss": iss, "aud": "overblick", "sub": "u1", "exp": now + 300,
        demo::PERSON_CLAIM: PNR,
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

/// Staff claims for Karin at Gottsunda, in the default claim names.
fn staff_claims(iss: &str) -> Value {
    let names = StaffClaims::default();
    let mut c = claims(iss, json!({ demo::PERSON_CLAIM: null }));
    c[&names.hsa_id] = "SE2321000024-P1234".into();
    c[&names.care_unit] = "SE2321000024-GOT001".into();
    c[&names.care_provider] = "SE2321000024-0001".into();
    c
}

#[tokio::test]
async fn every_kind_of_refused_token_gets_401_with_a_challenge_and_no_source_is_called() {
    let (rsa, rsa_pem) = rsa_key();
    let (ed, jwk) = ed_key("k1");
    let (stranger, _) = ed_key("k1");
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("citizen-idp.pem");
    std::fs::write(&pem_path, &rsa_pem).unwrap();
    let jwks_url = serve_jwks(jwk).await;

    // A citizen e-ID provider (persons only) with a key file, and a provider vouching for staff
    // and persons that publishes a JWKS.
    let citizen = IssuerSettings::new(
        FILE_ISS,
        "overblick",
        TokenAlgorithm::RS256,
        KeySource::File(&pem_path),
    );
    let mut staff_idp = IssuerSettings::new(
        JWKS_ISS,
        "overblick",
        TokenAlgorithm::EdDSA,
        KeySource::Jwks(&jwks_url),
    );
    staff_idp.principals = vec![PrincipalType::Staff, PrincipalType::Person];
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .issuers(vec![citizen, staff_idp])
        .start()
        .await;

    let tolvan = PersonId::parse(TOLVAN).unwrap();
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(FILE_ISS, json!({})).to_string().as_bytes())
    );
    let hmac_with_public_key = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(rsa_pem.as_bytes()),
        &claims(FILE_ISS, json!({})),
    );
    let now = chrono::Utc::now().timestamp();
    let mut missing_unit = staff_claims(JWKS_ISS);
    missing_unit
        .as_object_mut()
        .unwrap()
        .remove(&StaffClaims::default().care_unit);
    let refused: Vec<(&str, String, AuthError)> = vec![
        (
            "alg none",
            unsigned,
            AuthError::Malformed(jsonwebtoken::errors::ErrorKind::InvalidToken.into()),
        ),
        (
            "HS256 with the public key as secret",
            hmac_with_public_key,
            AuthError::WrongAlgorithm,
        ),
        (
            "expired",
            demo::mint_with(&tolvan, None, -3600, 60),
            AuthError::Expired,
        ),
        (
            "not yet valid",
            demo::mint_with(&tolvan, None, 3600, 60),
            AuthError::NotYetValid,
        ),
        (
            "expired, file issuer",
            sign(
                Algorithm::RS256,
                None,
                &rsa,
                &claims(FILE_ISS, json!({ "exp": now - 60 })),
            ),
            AuthError::Expired,
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::EdDSA,
                Some("k1"),
                &ed,
                &claims("https://other-idp.example.se", json!({})),
            ),
            AuthError::UntrustedIssuer,
        ),
        (
            "wrong audience",
            sign(
                Algorithm::RS256,
                None,
                &rsa,
                &claims(FILE_ISS, json!({ "aud": "another-service" })),
            ),
            AuthError::WrongAudience,
        ),
        (
            "another key than the issuer's file",
            sign(
                Algorithm::RS256,
                None,
                &rsa_key().0,
                &claims(FILE_ISS, json!({})),
            ),
            AuthError::BadSignature,
        ),
        (
            "a kid the issuer does not publish",
            sign(
                Algorithm::EdDSA,
                Some("k2"),
                &stranger,
                &claims(JWKS_ISS, json!({})),
            ),
            AuthError::UnknownKey,
        ),
        (
            "a published kid, another key",
            sign(
                Algorithm::EdDSA,
                Some("k1"),
                &stranger,
                &claims(JWKS_ISS, json!({})),
            ),
            AuthError::BadSignature,
        ),
        (
            "staff claims from the citizen issuer",
            sign(Algorithm::RS256, None, &rsa, &staff_claims(FILE_ISS)),
            AuthError::NoPerson,
        ),
        (
            "staff token without a care unit",
            sign(Algorithm::EdDSA, Some("k1"), &ed, &missing_unit),
            AuthError::NoCareUnit,
        ),
    ];
    for (what, token, reason) in &refused {
        let (status, headers, body) = app.post(Some(token), json!({ "query": MEDS })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        let challenge = headers[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
            "{what}: {challenge}"
        );
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{what}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert_eq!(message, reason.to_string(), "{what}");
        assert!(body.get("data").is_none(), "{what}: {body}");
    }
    assert_eq!(app.upstream_hits(), 0, "no source was called");

    // The same issuers' good tokens are accepted, so the refusals above were the checks' doing.
    for good in [
        sign(Algorithm::RS256, None, &rsa, &claims(FILE_ISS, json!({}))),
        sign(
            Algorithm::EdDSA,
            Some("k1"),
            &ed,
            &claims(JWKS_ISS, json!({})),
        ),
    ] {
        let (status, _, body) = app.post(Some(&good), json!({ "query": MEDS })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(error_codes(&body).is_empty(), "{body}");
        assert!(body["data"]["overview"]["medications"].as_array().is_some());
    }
    assert!(app.upstream_hits() > 0);
}
