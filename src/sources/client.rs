//! The HTTP client shared by every adapter: connection pool, connect timeout, response-size cap,
//! and the mapping of transport failures to [`SourceError`]s. Adapters only build requests and
//! read answers.

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderValue};

use super::{ConnectError, SourceError};

/// Settings for the shared client.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// How long to wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// The largest response body accepted from a source.
    pub max_body_bytes: usize,
    /// Idle connections kept per source host.
    pub pool_max_idle_per_host: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(2),
            max_body_bytes: 32 * 1024 * 1024,
            // At least the concurrent calls one source sees at peak (overviews in flight × the
            // domain's searches): below that, every burst closes connections only to open
            // new ones, which showed as several times the CPU per overview under load.
            pool_max_idle_per_host: 1024,
        }
    }
}

/// A cheap-to-clone client; one per process.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    max_body_bytes: usize,
}

/// A response whose status and whole body (within the cap) have been read.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A client's TLS identity and trust, as PEM: for the national service platform, which
/// authenticates consumers by their function certificate.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// The client certificate chain followed by its private key, in one PEM buffer.
    pub identity_pem: Option<Vec<u8>>,
    /// CA certificates to trust instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsSettings {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("identity", &self.identity_pem.is_some())
            .field("ca", &self.ca_pem.is_some())
            .finish()
    }
}

impl HttpClient {
    pub fn new(settings: &HttpSettings) -> Result<Self, reqwest::Error> {
        Self::with_tls(settings, &TlsSettings::default())
    }

    /// A client presenting `tls`'s identity and trusting only its CAs (when given).
    pub fn with_tls(settings: &HttpSettings, tls: &TlsSettings) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &tls.identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(pem)?);
        }
        if let Some(pem) = &tls.ca_pem {
            builder = builder.tls_certs_only(reqwest::Certificate::from_pem_bundle(pem)?);
        }
        let client = builder
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .tcp_nodelay(true)
            // Sources are configured by address; following redirects elsewhere would send the
            // patient's identifier to a host nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(HttpClient {
            client,
            max_body_bytes: settings.max_body_bytes,
        })
    }

    /// The same client (and connection pool) with another answer-size cap: each source's
    /// policy sets its own.
    pub fn with_max_body_bytes(&self, max_body_bytes: usize) -> HttpClient {
        HttpClient {
            client: self.client.clone(),
            max_body_bytes,
        }
    }

    /// The underlying client, for adapters that need a request shape `get` does not cover.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs `url` with the given `Accept` header and reads the whole body, refusing bodies over
    /// the cap without reading them into memory first.
    pub async fn get(&self, url: &str, accept: &'static str) -> Result<HttpResponse, SourceError> {
        let request = self
            .client
            .get(url)
            .header(ACCEPT, HeaderValue::from_static(accept));
        self.send(request).await
    }

    /// Sends a prepared request and reads the whole body under the cap.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpResponse, SourceError> {
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = self.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(SourceError::TooLarge { limit_bytes: limit });
        }
        let mut body = Vec::with_capacity(
            response
                .content_length()
                .map_or(8 * 1024, |len| len as usize),
        );
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > limit {
                return Err(SourceError::TooLarge { limit_bytes: limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }
}

/// Describes a transport failure in our words, keeping the client's error (without the URL,
/// which carries the patient's identifier) as its cause.
fn transport_error(err: reqwest::Error) -> SourceError {
    let what = if err.is_connect() {
        "could not connect"
    } else if err.is_timeout() {
        "the connection timed out"
    } else if err.is_body() || err.is_decode() {
        "the connection broke off while reading the answer"
    } else if err.is_request() {
        "the request could not be sent"
    } else {
        "the exchange failed"
    };
    SourceError::Connect(ConnectError::new(what, err))
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[tokio::test]
    async fn a_refused_connection_keeps_the_transport_error_as_its_cause_without_the_url() {
        // A port nothing listens on: bound, then let go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = HttpClient::new(&HttpSettings::default()).unwrap();
        let url = format!("http://127.0.0.1:{port}/fhir/Patient?identifier=191212121212");
        let err = client.get(&url, "application/fhir+json").await.unwrap_err();
        assert!(matches!(&err, SourceError::Connect(c) if c.what() == "could not connect"));
        assert_eq!(err.to_string(), "connection failed: could not connect");

        let mut chain = Vec::new();
        let mut cause = err.source();
        while let Some(e) = cause {
            chain.push(e.to_string());
            cause = e.source();
        }
        // Ours, then reqwest's own account and below it the operating system's.
        assert!(chain.len() >= 3, "{chain:?}");
        assert!(
            chain
                .iter()
                .all(|text| !text.contains("191212") && !text.contains("/fhir")),
            "the URL is left out of every cause: {chain:?}"
        );
    }
}
