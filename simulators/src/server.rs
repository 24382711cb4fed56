//! The simulators' HTTP server, shared by every protocol: one axum server per simulated system
//! on 127.0.0.1 (plain HTTP, or HTTPS requiring a client certificate), the fault behaviours a
//! test switches at runtime ([`Behaviour`]), request counting, and shutdown when the last handle
//! goes. A protocol supplies its routes and, through [`Wire`], what its faults look like (an
//! OperationOutcome or a SOAP fault, the shape of an oversized body, which elements its records
//! require); everything else about a fault is the same for every protocol.
//!
//! The server runs on its own listener whose connections a behaviour can abort: HTTP handlers
//! cannot drop their connection, and `Reset` must not answer at all.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a simulator answers, whatever its protocol. Switch it at runtime with
/// [`SimulatorHandle::set_behaviour`]; the behaviour in force when a request arrives decides its
/// answer. The configured latency comes before every answer, in every behaviour except `Hang`.
/// Every request counts in the hits, whatever the behaviour; a request held or streamed when the
/// simulator stops is ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer as the protocol says.
    #[default]
    Normal,
    /// Accept the request and never answer: the connection stays open until the client gives
    /// up or the simulator shuts down (then it answers 503). The server has no timeout of its
    /// own that could end the wait sooner.
    Hang,
    /// Answer normally after this extra delay (on top of the latency).
    Delay(Duration),
    /// Answer with this HTTP status (500 if it is not a status) and the protocol's error body
    /// for it: an OperationOutcome for FHIR, plain text for SOAP (as a proxy in front of the
    /// platform answers).
    Status(u16),
    /// Answer with the protocol's own error report instead of data: for FHIR an OperationOutcome
    /// with status 200, for SOAP a fault (`soap:Server`, VP009) with status 500, as the platform
    /// answers when the producer behind it fails.
    ProtocolError,
    /// Answer 200 with the protocol's content type and [`GARBAGE_BODY`], an HTML page.
    Garbage,
    /// Answer 200 with the first half of the normal answer: cut off mid-way.
    Truncated,
    /// Accept the request, then drop the connection without a byte of answer: the socket closes
    /// with a TCP reset (`SO_LINGER` 0), as when a server process dies or a firewall cuts the
    /// connection. The client gets no status line, only "connection reset by peer".
    Reset,
    /// Answer 200 with a body of `bytes` bytes in the protocol's format (a searchset Bundle of
    /// padding entries, a SOAP envelope of padding), valid to its end, so only a client's limit
    /// on the size stops it. Streamed in chunks made as they are sent, so the simulator never
    /// holds the body. With `declared`, the size is announced in `Content-Length` (a client can
    /// refuse before reading); without, the body comes chunked and only counting tells.
    Huge { bytes: usize, declared: bool },
    /// Send the status and headers of the normal answer at once (with its `Content-Length`),
    /// then its body [`DRIP_CHUNK_BYTES`] at a time, each chunk after waiting `every`: a
    /// server or proxy trickling bytes, which a per-read timeout never catches and only a
    /// deadline on the whole answer does.
    Drip { every: Duration },
    /// Answer as normally, but with the elements the protocol requires of every record left out
    /// (FHIR R4's required elements; the RIV-TA record header's `documentId`): a source whose
    /// export drops fields, which a client must notice record by record.
    MissingRequired,
}

/// How many bytes of the body a `Drip` answer sends per interval.
pub const DRIP_CHUNK_BYTES: usize = 8;

/// The body served in the `Garbage` behaviour: what a misconfigured proxy might send.
pub const GARBAGE_BODY: &str =
    "<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>";

/// What a protocol's faults look like on the wire.
pub trait Wire: Send + Sync + 'static {
    /// The content type of the protocol's answers.
    fn content_type(&self) -> &'static str;

    /// The answer for [`Behaviour::Status`] (and 503 while shutting down).
    fn status_answer(&self, status: StatusCode, message: &str) -> Response;

    /// The answer for [`Behaviour::ProtocolError`].
    fn protocol_error(&self) -> Response;

    /// The body of [`Behaviour::Huge`], exactly `bytes` long, made a chunk at a time.
    fn huge_body(&self, bytes: usize) -> Box<dyn Iterator<Item = Bytes> + Send>;

    /// The normal answer's body with the protocol's required elements left out
    /// ([`Behaviour::MissingRequired`]); `None` when it is not the protocol's format.
    fn leave_out_required(&self, body: &[u8]) -> Option<Vec<u8>>;

    /// The counter a request path counts under besides the total (a FHIR resource type, a
    /// contract's label), if any.
    fn hit_key(&self, path: &str) -> Option<String>;
}

/// TLS for a simulator: serve HTTPS with this certificate and require every client to present a
/// certificate issued by one of `client_ca_pem`'s CAs (mutual TLS, as the platform does).
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate chain (PEM), leaf first; it must name 127.0.0.1.
    pub certificate_chain_pem: Vec<u8>,
    /// The server's private key (PEM: PKCS#8, RSA or SEC1).
    pub private_key_pem: Vec<u8>,
    /// The CA certificates (PEM) client certificates must chain to.
    pub client_ca_pem: Vec<u8>,
}

impl std::fmt::Debug for ServerTls {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// How a simulator serves.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Added before every answer.
    pub latency: Duration,
    /// HTTPS with client certificates; plain HTTP when `None`.
    pub tls: Option<ServerTls>,
}

/// What the server task and the handles share.
struct Control {
    base_url: String,
    latency: Duration,
    behaviour: Mutex<Behaviour>,
    hits: AtomicU64,
    hits_by: Mutex<HashMap<String, u64>>,
    tls_refusals: AtomicU64,
    /// Turns true when the simulator stops; held-open requests watch it.
    stopping: watch::Receiver<bool>,
    /// Fault bodies (`Huge`, `Drip`) being sent now: one ends when sent whole, or when hyper
    /// drops it because the client closed the connection.
    fault_bodies: Arc<AtomicUsize>,
    wire: Box<dyn Wire>,
}

impl Control {
    fn behaviour(&self) -> Behaviour {
        *self
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, path: &str) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = self.wire.hit_key(path) {
            *self
                .hits_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default() += 1;
        }
    }
}

/// Control of a running simulator. Clones share one server; it shuts down gracefully when the
/// last clone is dropped, or at [`SimulatorHandle::shutdown`].
#[derive(Clone)]
pub struct SimulatorHandle {
    inner: Arc<Inner>,
}

struct Inner {
    control: Arc<Control>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("base_url", &self.base_url())
            .field("behaviour", &self.behaviour())
            .finish()
    }
}

impl SimulatorHandle {
    /// The base URL, `http(s)://127.0.0.1:<port><base path>` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.control.base_url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Switches how the following requests are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .inner
            .control
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// The behaviour in force.
    pub fn behaviour(&self) -> Behaviour {
        self.inner.control.behaviour()
    }

    /// Requests received since the start or the last [`reset_hits`](Self::reset_hits), on any
    /// path and in any behaviour (a hanging request counts when it arrives). Connections
    /// refused at the TLS handshake never become requests: see
    /// [`tls_refusals`](Self::tls_refusals).
    pub fn hits(&self) -> u64 {
        self.inner.control.hits.load(Ordering::Relaxed)
    }

    /// Requests received under `key`: the protocol's counter (a FHIR resource type, where
    /// `"metadata"` counts capability requests; a RIV-TA contract's label).
    pub fn hits_for(&self, key: &str) -> u64 {
        self.inner
            .control
            .hits_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// TLS handshakes refused (no or an untrusted client certificate) or timed out.
    pub fn tls_refusals(&self) -> u64 {
        self.inner.control.tls_refusals.load(Ordering::Relaxed)
    }

    /// `Huge` and `Drip` bodies being sent now. One stops counting when it has been sent whole
    /// or when the client closes the connection (hyper then drops it), so a client that gave
    /// up on a slow answer shows here as the count falling before the body could have ended.
    pub fn fault_bodies_sending(&self) -> usize {
        self.inner.control.fault_bodies.load(Ordering::Acquire)
    }

    /// Sets every counter to zero.
    pub fn reset_hits(&self) {
        let control = &self.inner.control;
        let mut by = control
            .hits_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        control.hits.store(0, Ordering::Relaxed);
        control.tls_refusals.store(0, Ordering::Relaxed);
        by.clear();
    }

    /// Stops accepting connections, answers held requests with 503, lets answers in flight
    /// finish, and waits until the server task has ended. Other clones see a stopped server.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Lets the simulator run until the Tokio runtime shuts down instead of until the last
    /// handle is dropped.
    pub fn detach(self) {
        std::mem::forget(self.inner);
    }
}

/// Binds a free port on 127.0.0.1 and serves the protocol's handlers (which know nothing of
/// faults), made by `service` from the base URL, at `base_path` behind the behaviour layer.
/// Must be called within a Tokio runtime; outside one, or with unusable TLS material, it
/// returns an error.
pub fn start(
    service: impl FnOnce(&str) -> Router,
    wire: impl Wire,
    base_path: &str,
    options: &ServerOptions,
) -> io::Result<SimulatorHandle> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "the simulator must be started within a Tokio runtime",
        ));
    }
    let acceptor = options
        .tls
        .as_ref()
        .map(|tls| server_config(tls).map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c))))
        .transpose()?;
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };

    let base_url = format!("{scheme}://{addr}{base_path}");
    let service = service(&base_url);
    let (stop, stopping) = watch::channel(false);
    let control = Arc::new(Control {
        base_url,
        latency: options.latency,
        behaviour: Mutex::new(Behaviour::Normal),
        hits: AtomicU64::new(0),
        hits_by: Mutex::new(HashMap::new()),
        tls_refusals: AtomicU64::new(0),
        stopping: stopping.clone(),
        fault_bodies: Arc::new(AtomicUsize::new(0)),
        wire: Box::new(wire),
    });
    let app = service
        .layer(middleware::from_fn_with_state(control.clone(), behave))
        .into_make_service_with_connect_info::<ConnectionHandle>();
    let listener = SimListener::start(listener, acceptor, stopping.clone(), control.clone());
    let mut until_stopped = stopping;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // Err means every handle is gone: stop as well.
                let _ = until_stopped.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "simulator stopped with an error");
        }
    });
    Ok(SimulatorHandle {
        inner: Arc::new(Inner {
            control,
            addr,
            stop,
            task: Mutex::new(Some(task)),
        }),
    })
}

/// The rustls configuration: our certificate, and client certificates required and verified
/// against the client CAs.
fn server_config(tls: &ServerTls) -> io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let chain = CertificateDer::pem_slice_iter(&tls.certificate_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("the server certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.private_key_pem)
        .map_err(|e| invalid("the server key", &e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&tls.client_ca_pem) {
        let ca = ca.map_err(|e| invalid("the client CA", &e))?;
        roots.add(ca).map_err(|e| invalid("the client CA", &e))?;
    }
    if roots.is_empty() {
        return Err(invalid("the client CA", &"no certificate in the PEM"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| invalid("the client verifier", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| invalid("the server certificate", &e))?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The simulator's listener: TCP on loopback, with TLS when configured, each connection wrapped
/// in a [`SimConnection`] that a behaviour can abort through the request's [`ConnectionHandle`].
/// TLS handshakes run in tasks of their own so that one slow or refused client does not hold up
/// the others.
enum SimListener {
    Plain {
        tcp: TcpListener,
        stopping: watch::Receiver<bool>,
    },
    Tls {
        accepted: mpsc::Receiver<(SimConnection, SocketAddr)>,
        addr: SocketAddr,
    },
}

impl SimListener {
    fn start(
        tcp: TcpListener,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        stopping: watch::Receiver<bool>,
        control: Arc<Control>,
    ) -> SimListener {
        let Some(acceptor) = acceptor else {
            return SimListener::Plain { tcp, stopping };
        };
        let addr = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let (sender, accepted) = mpsc::channel(64);
        let mut until_stopped = stopping.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(error) => {
                            tracing::debug!(%error, "simulator accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                    // The guard `wait_for` returns is not Send: drop it at once.
                    () = async { let _ = until_stopped.wait_for(|stop| *stop).await; } => return,
                    () = sender.closed() => return,
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                let (control, stopping) = (control.clone(), stopping.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let connection =
                                SimConnection::new(Stream::Tls(Box::new(tls)), stopping);
                            let _ = sender.send((connection, peer)).await;
                        }
                        Ok(Err(error)) => {
                            control.tls_refusals.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%error, "simulator refused a TLS handshake");
                        }
                        Err(_) => {
                            control.tls_refusals.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("simulator TLS handshake timed out");
                        }
                    }
                });
            }
        });
        SimListener::Tls { accepted, addr }
    }
}

impl Listener for SimListener {
    type Io = SimConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimConnection, SocketAddr) {
        match self {
            SimListener::Plain { tcp, stopping } => {
                // axum's own accept for TCP retries (and logs) failed accepts.
                let (stream, addr) = Listener::accept(tcp).await;
                (
                    SimConnection::new(Stream::Plain(stream), stopping.clone()),
                    addr,
                )
            }
            SimListener::Tls { accepted, .. } => match accepted.recv().await {
                Some(pair) => pair,
                // The acceptor stopped (shutdown): nothing more will come.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            SimListener::Plain { tcp, .. } => tcp.local_addr(),
            SimListener::Tls { addr, .. } => Ok(*addr),
        }
    }
}

/// Waits before a simulated answer: `wait` (latency and any extra delay), or, when `hang`, until
/// the simulator stops. False when the simulator began stopping meanwhile: the caller then
/// answers that it is shutting down. Waiting on the stop signal holds the connection without
/// holding a thread.
pub(crate) async fn wait_to_answer(
    hang: bool,
    wait: Duration,
    stopping: &mut watch::Receiver<bool>,
) -> bool {
    if hang {
        let _ = stopping.wait_for(|stop| *stop).await;
        return false;
    }
    if !wait.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|stop| *stop) => return false,
        }
    }
    true
}

/// What a request's handlers may do to the connection it came on; shared by the connection
/// and the [`ConnectionHandle`] in every request it carries.
#[derive(Debug, Default)]
struct ConnectionControl {
    /// Set to drop the connection: every later read, write or flush fails, and the socket
    /// closes with a reset when hyper drops it.
    aborted: AtomicBool,
    /// Fault bodies (`Huge`, `Drip`) being sent on the connection ([`FaultBodyGuard`]). While
    /// there are any, the simulator stopping aborts the connection: a client that stopped
    /// reading one would otherwise hold the graceful shutdown forever.
    fault_bodies: AtomicUsize,
}

/// Counts a fault body on its connection, and in the simulator's total, for as long as the
/// body lives.
struct FaultBodyGuard(Option<Arc<ConnectionControl>>, Option<Arc<AtomicUsize>>);

impl FaultBodyGuard {
    fn new(connection: Option<&ConnectionHandle>) -> Self {
        let control = connection.map(|c| c.0.clone());
        if let Some(control) = &control {
            control.fault_bodies.fetch_add(1, Ordering::AcqRel);
        }
        FaultBodyGuard(control, None)
    }

    /// Also counted in `total` (the simulator's [`SimulatorHandle::fault_bodies_sending`]).
    fn counted_in(mut self, total: &Arc<AtomicUsize>) -> Self {
        total.fetch_add(1, Ordering::AcqRel);
        self.1 = Some(total.clone());
        self
    }
}

impl Drop for FaultBodyGuard {
    fn drop(&mut self) {
        if let Some(control) = &self.0 {
            control.fault_bodies.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(total) = &self.1 {
            total.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The simulator's stop signal as something a connection can poll.
struct StopSignal(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl StopSignal {
    fn new(mut stopping: watch::Receiver<bool>) -> Self {
        StopSignal(Some(Box::pin(async move {
            // Err means every handle is gone: stopped as well.
            let _ = stopping.wait_for(|stop| *stop).await;
        })))
    }

    /// Whether the simulator is stopping; if not, the task is woken when it begins.
    fn poll_stopped(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(signal) = &mut self.0 else {
            return true;
        };
        if signal.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.0 = None;
        true
    }
}

/// One accepted TCP connection. It reads and writes as the socket does until it is aborted;
/// from then on every operation fails, so hyper gives the connection up without writing
/// anything more, and dropping it closes the socket with `SO_LINGER` 0: a reset, not a FIN.
struct SimConnection {
    stream: Stream,
    control: Arc<ConnectionControl>,
    stopped: StopSignal,
}

/// A connection's transport: plain TCP, or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// Delegates an I/O call to the plain or the TLS stream.
macro_rules! on_stream {
    ($stream:expr, $s:ident => $call:expr) => {
        match $stream {
            Stream::Plain($s) => $call,
            Stream::Tls($s) => $call,
        }
    };
}

impl SimConnection {
    fn new(stream: Stream, stopping: watch::Receiver<bool>) -> Self {
        // Small writes leave at once rather than waiting for the previous one's ACK (Nagle).
        if let Err(error) = stream.tcp().set_nodelay(true) {
            tracing::debug!(%error, "simulator connection without TCP_NODELAY");
        }
        SimConnection {
            stream,
            control: Arc::default(),
            stopped: StopSignal::new(stopping),
        }
    }

    /// The error every operation fails with once the connection is aborted; a connection
    /// sending a fault body is aborted when the simulator stops.
    fn refused(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let control = &self.control;
        if !control.aborted.load(Ordering::Acquire) {
            if control.fault_bodies.load(Ordering::Acquire) == 0 || !self.stopped.poll_stopped(cx) {
                return None;
            }
            control.aborted.store(true, Ordering::Release);
        }
        Some(io::Error::from(io::ErrorKind::ConnectionAborted))
    }
}

impl Drop for SimConnection {
    fn drop(&mut self) {
        if self.control.aborted.load(Ordering::Acquire) {
            // Linger 0: `close` discards anything unsent and sends a reset. The deprecation
            // warns that a lingering close blocks the thread; a zero linger never blocks.
            // (`set_zero_linger` does this undeprecated, but from Tokio 1.50; Cargo.toml asks
            // for 1.47.)
            #[allow(deprecated)]
            let lingered = self.stream.tcp().set_linger(Some(Duration::ZERO));
            if let Err(error) = lingered {
                tracing::debug!(%error, "simulator connection closes without a reset");
            }
        }
    }
}

impl AsyncRead for SimConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => on_stream!(&mut this.stream, s => Pin::new(s).poll_read(cx, buf)),
        }
    }
}

impl AsyncWrite for SimConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => on_stream!(&mut this.stream, s => Pin::new(s).poll_write(cx, buf)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => on_stream!(&mut this.stream, s => Pin::new(s).poll_write_vectored(cx, bufs)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        on_stream!(&self.stream, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => on_stream!(&mut this.stream, s => Pin::new(s).poll_flush(cx)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => on_stream!(&mut this.stream, s => Pin::new(s).poll_shutdown(cx)),
        }
    }
}

/// The connection a request came on, as a request extension (`ConnectInfo`).
#[derive(Clone, Debug)]
struct ConnectionHandle(Arc<ConnectionControl>);

impl ConnectionHandle {
    /// Drops the connection without answering: the answer being prepared is never sent.
    fn abort(&self) {
        self.0.aborted.store(true, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        ConnectionHandle(stream.io().control.clone())
    }
}

/// Counts the request, then applies latency and the behaviour in force around the handlers.
async fn behave(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    control.count(request.uri().path());
    let behaviour = control.behaviour();
    tracing::debug!(?behaviour, "simulator request");
    let connection = request
        .extensions()
        .get::<ConnectInfo<ConnectionHandle>>()
        .map(|ConnectInfo(c)| c.clone());
    let mut stopping = control.stopping.clone();
    let wire = &control.wire;

    let extra = match behaviour {
        Behaviour::Delay(extra) => extra,
        _ => Duration::ZERO,
    };
    let hang = behaviour == Behaviour::Hang;
    if !wait_to_answer(hang, control.latency + extra, &mut stopping).await {
        return wire.status_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the simulator is shutting down",
        );
    }
    let content_type = || [(header::CONTENT_TYPE, wire.content_type())];

    match behaviour {
        Behaviour::Normal | Behaviour::Delay(_) | Behaviour::Hang => next.run(request).await,
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            wire.status_answer(
                status,
                &format!("simulated failure with status {}", status.as_u16()),
            )
        }
        Behaviour::ProtocolError => wire.protocol_error(),
        Behaviour::Garbage => (StatusCode::OK, content_type(), GARBAGE_BODY).into_response(),
        Behaviour::Truncated => {
            let (parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut response = Response::from_parts(parts, Body::from(cut_in_half(&bytes)));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        Behaviour::Reset => match connection {
            Some(connection) => {
                connection.abort();
                // Never sent: hyper fails to write its head on the aborted connection and
                // drops the connection, which closes with a reset.
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            // Only when the router is served without the simulator's listener.
            None => wire.status_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the simulator cannot reset this connection",
            ),
        },
        Behaviour::Huge { bytes, declared } => {
            let guard = FaultBodyGuard::new(connection.as_ref()).counted_in(&control.fault_bodies);
            let body = fault_body(wire.huge_body(bytes), Duration::ZERO, stopping, guard);
            let mut response = (StatusCode::OK, content_type(), body).into_response();
            if declared {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
            }
            response
        }
        Behaviour::Drip { every } => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            let chunks = (0..bytes.len())
                .step_by(DRIP_CHUNK_BYTES)
                .map(move |at| bytes.slice(at..(at + DRIP_CHUNK_BYTES).min(bytes.len())));
            let guard = FaultBodyGuard::new(connection.as_ref()).counted_in(&control.fault_bodies);
            Response::from_parts(parts, fault_body(chunks, every, stopping, guard))
        }
        Behaviour::MissingRequired => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            match wire.leave_out_required(&bytes) {
                Some(changed) => {
                    parts.headers.remove(header::CONTENT_LENGTH);
                    Response::from_parts(parts, Body::from(changed))
                }
                None => Response::from_parts(parts, Body::from(bytes)),
            }
        }
    }
}

/// A streamed fault body: each of `chunks` after waiting `every`. When the simulator stops, the
/// body ends in an error instead, which makes hyper close the connection without finishing the
/// answer (the client sees the body break off). The guard counts the body on its connection
/// until the body is dropped, done or not.
fn fault_body<I>(
    chunks: I,
    every: Duration,
    stopping: watch::Receiver<bool>,
    guard: FaultBodyGuard,
) -> Body
where
    I: Iterator<Item = Bytes> + Send + 'static,
{
    let state = Some((chunks, stopping, guard));
    Body::from_stream(futures::stream::unfold(state, move |state| async move {
        let (mut chunks, mut stopping, guard) = state?;
        let stopped = if every.is_zero() {
            has_stopped(&stopping)
        } else {
            tokio::select! {
                () = tokio::time::sleep(every) => false,
                _ = stopping.wait_for(|stop| *stop) => true,
            }
        };
        if stopped {
            let error = io::Error::other("the simulator stopped while sending the answer");
            return Some((Err(error), None));
        }
        let chunk = chunks.next()?;
        Some((Ok(chunk), Some((chunks, stopping, guard))))
    }))
}

/// Whether the simulator has begun stopping (the borrow ends here, never held across a wait).
fn has_stopped(stopping: &watch::Receiver<bool>) -> bool {
    *stopping.borrow()
}

/// The first half of a JSON text, never empty and never the whole, cut at a character boundary.
fn cut_in_half(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut cut = (text.len() / 2).max(1);
    while cut < text.len() && !text.is_char_boundary(cut) {
        cut += 1;
    }
    text.as_bytes()[..cut.min(text.len().saturating_sub(1))].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connection_pair(stopping: watch::Receiver<bool>) -> (TcpStream, SimConnection) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, SimConnection::new(Stream::Plain(server), stopping))
    }

    /// Writes to `server` until a write waits (the client reads nothing); returns the data
    /// `server` is still waiting to write.
    async fn fill(server: &mut SimConnection) -> Vec<u8> {
        use tokio::io::AsyncWriteExt as _;
        let block = vec![b' '; 64 * 1024];
        while tokio::time::timeout(Duration::from_millis(100), server.write(&block))
            .await
            .is_ok_and(|written| written.is_ok())
        {}
        block
    }

    #[tokio::test]
    async fn a_fault_body_whose_write_waits_is_aborted_when_the_simulator_stops() {
        use tokio::io::AsyncWriteExt as _;
        let (stop, stopping) = watch::channel(false);
        let (_client, mut server) = connection_pair(stopping).await;
        let guard = FaultBodyGuard::new(Some(&ConnectionHandle(server.control.clone())));
        let block = fill(&mut server).await;
        let waiting = tokio::spawn(async move { server.write(&block).await });
        tokio::time::sleep(Duration::from_millis(50)).await;

        stop.send_replace(true);

        let written = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("the waiting write ends")
            .unwrap();
        assert_eq!(
            written.unwrap_err().kind(),
            io::ErrorKind::ConnectionAborted
        );
        drop(guard);
    }

    #[tokio::test]
    async fn an_ordinary_answer_whose_write_waits_is_left_alone_when_the_simulator_stops() {
        use tokio::io::AsyncWriteExt as _;
        let (stop, stopping) = watch::channel(false);
        let (_client, mut server) = connection_pair(stopping).await;
        let handle = ConnectionHandle(server.control.clone());
        drop(FaultBodyGuard::new(Some(&handle)));
        assert_eq!(handle.0.fault_bodies.load(Ordering::Acquire), 0);
        let block = fill(&mut server).await;

        stop.send_replace(true);

        let write = tokio::time::timeout(Duration::from_millis(300), server.write(&block)).await;
        assert!(write.is_err(), "still waiting for the client to read");
        assert!(!handle.0.aborted.load(Ordering::Acquire));
    }

    #[test]
    fn a_cut_answer_is_never_valid_json() {
        for text in [
            r#"{"resourceType":"Bundle","entry":[]}"#,
            "{}",
            r#"{"a":"åäö"}"#,
        ] {
            let cut = cut_in_half(text.as_bytes());
            assert!(!cut.is_empty());
            assert!(
                serde_json::from_slice::<serde_json::Value>(&cut).is_err(),
                "{text}"
            );
            assert!(std::str::from_utf8(&cut).is_ok());
        }
    }
}
