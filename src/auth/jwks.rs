//! An issuer's published signing keys (a JWKS): fetched over HTTP, cached by `kid`, and fetched
//! again when a token names a key the cache does not hold, at most once per refresh interval, so
//! a flood of tokens with made-up key ids cannot make the service hammer the identity provider.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;

/// One fetch of a JWKS may take this long; a token with a new key waits for it.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS accepted. Real ones are a few kilobytes.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// After a failed fetch, the next may come this soon (or after the refresh interval, if
/// shorter), so an identity provider that was down briefly is not locked out for minutes.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Why no key could be found for a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The issuer's JWKS (as last fetched) has no usable key with this `kid`.
    #[error("the issuer's JWKS has no usable key with this `kid`")]
    Unknown,
    /// The JWKS could not be fetched, so the key cannot be known (the fetch's failure is
    /// logged when it happens).
    #[error("the issuer's JWKS cannot be fetched, so the key cannot be known")]
    Unavailable,
}

/// Why a JWKS could not be fetched or read. The messages never hold the URL (some providers
/// put access keys in it); the HTTP client's errors are kept, their URL removed, as causes.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout(#[source] reqwest::Error),
    #[error("cannot connect")]
    Connect(#[source] reqwest::Error),
    #[error("the JWKS URL redirects; configure the final URL")]
    Redirect(#[source] reqwest::Error),
    #[error("the request failed")]
    Request(#[source] reqwest::Error),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not a JWKS (a JSON object with `keys`)")]
    NotAJwks(#[source] serde_json::Error),
}

impl From<reqwest::Error> for FetchError {
    fn from(error: reqwest::Error) -> Self {
        let error = error.without_url();
        if error.is_timeout() {
            FetchError::Timeout(error)
        } else if error.is_connect() {
            FetchError::Connect(error)
        } else if error.is_redirect() {
            FetchError::Redirect(error)
        } else {
            FetchError::Request(error)
        }
    }
}

struct Cache {
    /// Usable keys by `kid`: only those that fit the issuer's pinned algorithm.
    keys: HashMap<String, DecodingKey>,
    /// Whether a fetch has ever succeeded.
    loaded: bool,
    /// Whether the latest fetch failed.
    failing: bool,
    /// No fetch for an unknown key before this time.
    next_refresh: Option<Instant>,
}

/// The keys of one JWKS issuer.
pub struct JwksKeys {
    issuer: String,
    url: reqwest::Url,
    algorithm: Algorithm,
    refresh_interval: Duration,
    client: reqwest::Client,
    cache: RwLock<Cache>,
    /// Held while fetching: tokens with unknown keys that arrive meanwhile wait for that one
    /// fetch instead of starting their own.
    fetching: tokio::sync::Mutex<()>,
}

impl JwksKeys {
    pub fn new(
        issuer: &str,
        url: reqwest::Url,
        algorithm: Algorithm,
        refresh_interval: Duration,
        client: reqwest::Client,
    ) -> Self {
        JwksKeys {
            issuer: issuer.to_owned(),
            url,
            algorithm,
            refresh_interval,
            client,
            cache: RwLock::new(Cache {
                keys: HashMap::new(),
                loaded: false,
                failing: false,
                next_refresh: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The first fetch, at startup. A failure is logged, not fatal: the service can still serve
    /// the other issuers, and the first token for this one tries again. It does not count
    /// against the refresh interval, so a key rotated just after startup is picked up at once.
    pub async fn load(&self) {
        let _guard = self.fetching.lock().await;
        self.fetch_and_store().await;
        self.write().next_refresh = None;
    }

    /// The key with this `kid`, fetching the JWKS again if it is not known and the interval
    /// allows.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        if let Some(key) = self.read().keys.get(kid) {
            return Ok(key.clone());
        }
        let _guard = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let may_fetch = {
            let cache = self.read();
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            cache.next_refresh.is_none_or(|t| Instant::now() >= t)
        };
        if may_fetch {
            self.fetch_and_store().await;
        }
        let cache = self.read();
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cache.failing || !cache.loaded => Err(KeyError::Unavailable),
            None => Err(KeyError::Unknown),
        }
    }

    /// Fetches the JWKS and replaces the cached keys; on failure keeps the old ones (a key that
    /// verified a minute ago is no less trustworthy because the provider is down now).
    async fn fetch_and_store(&self) {
        let result = self.fetch().await;
        let now = Instant::now();
        let mut cache = self.write();
        match result {
            Ok(keys) => {
                if keys.is_empty() {
                    tracing::warn!(
                        issuer = %self.issuer,
                        algorithm = ?self.algorithm,
                        "the issuer's JWKS has no key for its configured algorithm; its tokens are refused"
                    );
                }
                cache.keys = keys;
                cache.loaded = true;
                cache.failing = false;
                cache.next_refresh = Some(now + self.refresh_interval);
            }
            Err(reason) => {
                // The URL is not logged: some providers put access keys in it.
                tracing::warn!(
                    issuer = %self.issuer,
                    reason = %reason,
                    cause = %causes(&reason),
                    "cannot fetch the issuer's signing keys (JWKS); tokens with keys not yet known are refused until it can be fetched"
                );
                cache.failing = true;
                cache.next_refresh = Some(now + self.refresh_interval.min(RETRY_AFTER_FAILURE));
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, FetchError> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
        }
        usable_keys(&body, self.algorithm)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        // The lock is never held across an await or a panic-prone call; a poisoned one still
        // holds a consistent map.
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The causes below `error`, outermost first, joined with ": "; empty when it has none.
fn causes(error: &dyn std::error::Error) -> String {
    let mut all = Vec::new();
    let mut cause = error.source();
    while let Some(e) = cause {
        all.push(e.to_string());
        cause = e.source();
    }
    all.join(": ")
}

/// The keys in a JWKS that fit `algorithm`, by `kid`. Each key is read on its own, so one key of
/// a kind this library does not know (an encryption key, another curve) does not hide the rest.
/// Keys without a `kid`, for another use than signatures, of another type or curve, or whose
/// `alg` names another algorithm, are left out: a key is only ever used with the pinned
/// algorithm.
pub fn usable_keys(
    body: &[u8],
    algorithm: Algorithm,
) -> Result<HashMap<String, DecodingKey>, FetchError> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(body).map_err(FetchError::NotAJwks)?;
    let mut keys = HashMap::new();
    for raw in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if !fits(&jwk, algorithm) {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            keys.insert(kid, key);
        }
    }
    Ok(keys)
}

/// Whether a JWK may verify signatures made with `algorithm`.
fn fits(jwk: &Jwk, algorithm: Algorithm) -> bool {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return false;
    }
    let (declared, kind_fits) = match algorithm {
        Algorithm::RS256 => (
            KeyAlgorithm::RS256,
            matches!(jwk.algorithm, AlgorithmParameters::RSA(_)),
        ),
        Algorithm::ES256 => (
            KeyAlgorithm::ES256,
            matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256),
        ),
        Algorithm::EdDSA => (
            KeyAlgorithm::EdDSA,
            matches!(&jwk.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519),
        ),
        // Only the three above can be configured.
        _ => return false,
    };
    kind_fits && jwk.common.key_algorithm.is_none_or(|a| a == declared)
}
