//! The simulator's HTTP side: one axum server per simulated source on 127.0.0.1, the fault
//! behaviours tests switch at runtime, request counting, and shutdown when the last handle goes.
//!
//! The server runs on its own listener ([`SimListener`]) whose connections a behaviour can
//! abort: HTTP handlers cannot drop their connection, and `Reset` must not answer at all.

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
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::search::{self, Refusal, operation_outcome};
use super::store::FhirStore;

/// The path under which the FHIR API is served; `base_url()` ends with it.
const BASE_PATH: &str = "/fhir";
const FHIR_JSON: &str = "application/fhir+json";

/// How the simulator answers. Switch it at runtime with [`SimulatorHandle::set_behaviour`]; the
/// behaviour in force when a request arrives decides its answer. The configured latency comes
/// before every answer, in every behaviour except `Hang`. Every request counts in the hits,
/// whatever the behaviour; a request held or streamed when the simulator stops is ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer FHIR searches as a FHIR server does.
    #[default]
    Normal,
    /// Accept the request and never answer: the connection stays open until the client gives
    /// up or the simulator shuts down (then it answers 503). The server has no timeout of its
    /// own that could end the wait sooner.
    Hang,
    /// Answer with this HTTP status and an OperationOutcome body (500 if it is not a status).
    Status(u16),
    /// Answer 200 with `Content-Type: application/fhir+json` and a body that is not JSON.
    Garbage,
    /// Answer 200 with the first half of the normal answer: valid JSON cut off mid-way.
    Truncated,
    /// Answer normally after this extra delay (on top of the latency).
    Delay(Duration),
    /// Answer 200 with an OperationOutcome error instead of a Bundle.
    OperationOutcome,
    /// Accept the request, then drop the connection without a byte of answer: the socket closes
    /// with a TCP reset (`SO_LINGER` 0), as when a server process dies or a firewall cuts the
    /// connection. The client gets no status line, only "connection reset by peer".
    Reset,
    /// Answer 200 `application/fhir+json` with a body of `bytes` bytes that starts as a
    /// searchset Bundle and goes on with padding entries (`Basic` resources no domain maps)
    /// until `bytes` is reached, then closes the Bundle: valid JSON, so only a client's limit
    /// on the size stops it (a `bytes` too small for the frame gets the frame's start, cut).
    /// Streamed in chunks of 64 KiB made as they are sent, so the simulator never holds the
    /// body. With `declared`, the size is announced in `Content-Length` (a client can refuse
    /// before reading); without, the body comes chunked and only counting tells.
    Huge { bytes: usize, declared: bool },
    /// Send the status and headers of the normal answer at once (with its `Content-Length`),
    /// then its body [`DRIP_CHUNK_BYTES`] at a time, each chunk after waiting `every`: a
    /// server or proxy trickling bytes, which a per-read timeout never catches and only a
    /// deadline on the whole answer does.
    Drip { every: Duration },
    /// Answer as normally, but with the elements FHIR R4 requires left out of every resource
    /// that has any (the table `REQUIRED_ELEMENTS`): a MedicationRequest without `status`,
    /// `intent`, `subject` and medication, an Observation without `status` and `code`, and
    /// so on. The Bundle stays valid and the records are there with everything else: a source
    /// whose export drops fields, which a client must notice record by record.
    MissingRequired,
}

/// How many bytes of the body a `Drip` answer sends per interval.
pub const DRIP_CHUNK_BYTES: usize = 8;

/// The body served in the `Garbage` behaviour: what a misconfigured proxy might send.
pub const GARBAGE_BODY: &str =
    "<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>";

/// How much of a `Huge` body is made and sent at a time.
const HUGE_CHUNK_BYTES: usize = 64 * 1024;
/// How a `Huge` body begins: a searchset Bundle opening its `entry` array.
const HUGE_HEAD: &str = r#"{"resourceType":"Bundle","type":"searchset","entry":["#;
/// How a `Huge` body ends, after its padding entries and whitespace.
const HUGE_TAIL: &str = "]}";
/// Padding entries are numbered with ten digits, so every one has the same length.
const MAX_PADDING_ENTRIES: u64 = 9_999_999_999;

/// The elements FHIR R4 requires (minimum cardinality 1) of each resource type, which the
/// `MissingRequired` behaviour leaves out. A name ending in `[x]` is a choice element: every
/// `<name><Type>` goes. A primitive's extensions (`_status`) go with it. Types not listed
/// require nothing (Patient, CareTeam, Practitioner, PractitionerRole, Organization,
/// Location, Medication) and are served as they are. Among those the adapter maps, what it
/// cannot do without: Observation and DiagnosticReport `code`, MedicationRequest and
/// MedicationStatement medication, Goal `description`, Appointment `start`.
const REQUIRED_ELEMENTS: &[(&str, &[&str])] = &[
    ("AllergyIntolerance", &["patient"]),
    // `start` and `end` are optional in themselves, but invariant app-3 requires both of an
    // appointment that is not proposed, cancelled or waitlisted, and one without a status
    // is none of those.
    ("Appointment", &["status", "participant", "start", "end"]),
    (
        "CapabilityStatement",
        &["status", "date", "kind", "fhirVersion", "format"],
    ),
    ("CarePlan", &["status", "intent", "subject"]),
    ("Condition", &["subject"]),
    ("DiagnosticReport", &["status", "code"]),
    ("DocumentReference", &["status", "content"]),
    ("Encounter", &["status", "class"]),
    ("Goal", &["lifecycleStatus", "description", "subject"]),
    (
        "Immunization",
        &["status", "vaccineCode", "patient", "occurrence[x]"],
    ),
    (
        "MedicationAdministration",
        &["status", "medication[x]", "subject", "effective[x]"],
    ),
    ("MedicationDispense", &["status", "medication[x]"]),
    (
        "MedicationRequest",
        &["status", "intent", "medication[x]", "subject"],
    ),
    (
        "MedicationStatement",
        &["status", "medication[x]", "subject"],
    ),
    ("Observation", &["status", "code"]),
    ("Procedure", &["status", "subject"]),
    ("ServiceRequest", &["status", "intent", "subject"]),
];

/// State shared by the server task and the handles.
struct Shared {
    store: FhirStore,
    base_url: String,
    latency: Duration,
    behaviour: Mutex<Behaviour>,
    hits: AtomicU64,
    hits_by_type: Mutex<HashMap<String, u64>>,
    /// Turns true when the simulator stops; held-open requests watch it.
    stopping: watch::Receiver<bool>,
    /// Fault bodies (`Huge`, `Drip`) being sent now: one ends when sent whole, or when hyper
    /// drops it because the client closed the connection.
    fault_bodies: Arc<AtomicUsize>,
}

impl Shared {
    fn behaviour(&self) -> Behaviour {
        *self
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, path: &str) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        let segment = path
            .strip_prefix(BASE_PATH)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("");
        *self
            .hits_by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(segment.to_owned())
            .or_default() += 1;
    }
}

/// Control of a running simulator. Clones share one server; it shuts down gracefully when the
/// last clone is dropped, or at [`SimulatorHandle::shutdown`].
#[derive(Clone)]
pub struct SimulatorHandle {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
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
            .field("behaviour", &self.inner.shared.behaviour())
            .finish()
    }
}

impl SimulatorHandle {
    /// The FHIR base URL, `http://127.0.0.1:<port>/fhir` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.shared.base_url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Switches how the following requests are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .inner
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// The behaviour in force.
    pub fn behaviour(&self) -> Behaviour {
        self.inner.shared.behaviour()
    }

    /// Requests received since the start or the last [`reset_hits`](Self::reset_hits), on any
    /// path and in any behaviour (a hanging request counts when it arrives).
    pub fn hits(&self) -> u64 {
        self.inner.shared.hits.load(Ordering::Relaxed)
    }

    /// Requests received for `resource_type` (the first path segment after `/fhir/`, so
    /// `"metadata"` counts capability requests).
    pub fn hits_for(&self, resource_type: &str) -> u64 {
        self.inner
            .shared
            .hits_by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(resource_type)
            .copied()
            .unwrap_or(0)
    }

    /// `Huge` and `Drip` bodies being sent now. One stops counting when it has been sent whole
    /// or when the client closes the connection (hyper then drops it), so a client that gave
    /// up on a slow answer shows here as the count falling before the body could have ended.
    pub fn fault_bodies_sending(&self) -> usize {
        self.inner.shared.fault_bodies.load(Ordering::Acquire)
    }

    /// Sets every hit counter to zero.
    pub fn reset_hits(&self) {
        let shared = &self.inner.shared;
        let mut by_type = shared
            .hits_by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shared.hits.store(0, Ordering::Relaxed);
        by_type.clear();
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
}

/// Starts a simulator serving `store` on `127.0.0.1` at a free port, adding `latency` before
/// every answer. Must be called within a Tokio runtime (the server runs in a spawned task);
/// outside one it returns an error.
pub fn start(store: FhirStore, latency: Duration) -> std::io::Result<SimulatorHandle> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(std::io::Error::other(
            "the simulator must be started within a Tokio runtime",
        ));
    }
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;

    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        store,
        base_url: format!("http://{addr}{BASE_PATH}"),
        latency,
        behaviour: Mutex::new(Behaviour::Normal),
        hits: AtomicU64::new(0),
        hits_by_type: Mutex::new(HashMap::new()),
        stopping: stopping.clone(),
        fault_bodies: Arc::new(AtomicUsize::new(0)),
    });
    let app = router(shared.clone()).into_make_service_with_connect_info::<ConnectionHandle>();
    let listener = SimListener {
        inner: listener,
        stopping: stopping.clone(),
    };
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
    tracing::debug!(%addr, people = shared.store.person_count(), "simulator started");
    Ok(SimulatorHandle {
        inner: Arc::new(Inner {
            shared,
            addr,
            stop,
            task: Mutex::new(Some(task)),
        }),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/{resource_type}", get(search_type))
        .route("/fhir/{resource_type}/{id}", get(read))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), behave))
        .with_state(shared)
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    fhir_json(
        StatusCode::OK,
        &search::capability_statement(&shared.store, &shared.base_url),
    )
}

async fn search_type(
    State(shared): State<Arc<Shared>>,
    Path(resource_type): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    answer(search::search(
        &shared.store,
        &shared.base_url,
        &resource_type,
        &params,
    ))
}

async fn read(
    State(shared): State<Arc<Shared>>,
    Path((resource_type, id)): Path<(String, String)>,
) -> Response {
    answer(search::read(&shared.store, &resource_type, &id))
}

async fn not_found() -> Response {
    refusal(&Refusal {
        status: 404,
        code: "not-found",
        message: "the simulator serves FHIR searches under /fhir".into(),
    })
}

fn answer(result: Result<Value, Refusal>) -> Response {
    match result {
        Ok(body) => fhir_json(StatusCode::OK, &body),
        Err(r) => refusal(&r),
    }
}

fn refusal(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    fhir_json(status, &operation_outcome(r.code, &r.message))
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let mut text = Vec::new();
    write_fhir_json(body, &mut text);
    fhir_body(status, text)
}

/// Writes `value` as compact JSON with `resourceType` first in every object, as FHIR servers
/// do (serde_json's map sorts keys, which would put `entry` before `resourceType`).
fn write_fhir_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let first = map.get_key_value("resourceType");
            let rest = map.iter().filter(|(k, _)| *k != "resourceType");
            for (i, (key, v)) in first.into_iter().chain(rest).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_fhir_json(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_fhir_json(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a JSON value into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

fn fhir_body(status: StatusCode, body: impl Into<Body>) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body.into()).into_response()
}

/// Waits before a simulated answer: `wait` (latency and any extra delay), or, when `hang`, until
/// the simulator stops. False when the simulator began stopping meanwhile: the caller then
/// answers that it is shutting down. Waiting on the stop signal holds the connection without
/// holding a thread. Shared by the FHIR and the SOAP simulators.
pub(super) async fn wait_to_answer(
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

/// The simulator's listener: plain TCP on loopback, each connection wrapped in a
/// [`SimConnection`] that a behaviour can abort through the request's [`ConnectionHandle`].
struct SimListener {
    inner: TcpListener,
    stopping: watch::Receiver<bool>,
}

impl Listener for SimListener {
    type Io = SimConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimConnection, SocketAddr) {
        // axum's own accept for TCP retries (and logs) failed accepts.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (SimConnection::new(stream, self.stopping.clone()), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
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
    stream: TcpStream,
    control: Arc<ConnectionControl>,
    stopped: StopSignal,
}

impl SimConnection {
    fn new(stream: TcpStream, stopping: watch::Receiver<bool>) -> Self {
        // Small writes leave at once rather than waiting for the previous one's ACK (Nagle).
        if let Err(error) = stream.set_nodelay(true) {
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
            let lingered = self.stream.set_linger(Some(Duration::ZERO));
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
            None => Pin::new(&mut this.stream).poll_read(cx, buf),
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
            None => Pin::new(&mut this.stream).poll_write(cx, buf),
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
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => Pin::new(&mut this.stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.refused(cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => Pin::new(&mut this.stream).poll_shutdown(cx),
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
async fn behave(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.count(request.uri().path());
    let behaviour = shared.behaviour();
    tracing::debug!(?behaviour, "simulator request");
    let connection = request
        .extensions()
        .get::<ConnectInfo<ConnectionHandle>>()
        .map(|ConnectInfo(c)| c.clone());
    let mut stopping = shared.stopping.clone();
    let shutting_down = || {
        refusal(&Refusal {
            status: 503,
            code: "transient",
            message: "the simulator is shutting down".into(),
        })
    };

    let extra = match behaviour {
        Behaviour::Delay(extra) => extra,
        _ => Duration::ZERO,
    };
    let hang = behaviour == Behaviour::Hang;
    if !wait_to_answer(hang, shared.latency + extra, &mut stopping).await {
        return shutting_down();
    }

    match behaviour {
        Behaviour::Normal | Behaviour::Delay(_) | Behaviour::Hang => next.run(request).await,
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            fhir_json(
                status,
                &operation_outcome(
                    "exception",
                    &format!("simulated failure with status {}", status.as_u16()),
                ),
            )
        }
        Behaviour::Garbage => fhir_body(StatusCode::OK, GARBAGE_BODY),
        Behaviour::Truncated => {
            let full = next.run(request).await;
            let bytes = axum::body::to_bytes(full.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            fhir_body(StatusCode::OK, cut_in_half(&bytes))
        }
        Behaviour::OperationOutcome => fhir_json(
            StatusCode::OK,
            &operation_outcome("exception", "simulated error answered with status 200"),
        ),
        Behaviour::Reset => match connection {
            Some(connection) => {
                connection.abort();
                // Never sent: hyper fails to write its head on the aborted connection and
                // drops the connection, which closes with a reset.
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            // Only when the router is served without the simulator's listener.
            None => fhir_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &operation_outcome("exception", "the simulator cannot reset this connection"),
            ),
        },
        Behaviour::Huge { bytes, declared } => {
            let guard = FaultBodyGuard::new(connection.as_ref()).counted_in(&shared.fault_bodies);
            let body = fault_body(HugeBody::new(bytes), Duration::ZERO, stopping, guard);
            let mut response = fhir_body(StatusCode::OK, body);
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
            let guard = FaultBodyGuard::new(connection.as_ref()).counted_in(&shared.fault_bodies);
            Response::from_parts(parts, fault_body(chunks, every, stopping, guard))
        }
        Behaviour::MissingRequired => {
            let (parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(mut answer) => {
                    leave_out_required(&mut answer);
                    fhir_json(parts.status, &answer)
                }
                Err(_) => Response::from_parts(parts, Body::from(bytes)),
            }
        }
    }
}

/// Removes the elements FHIR R4 requires ([`REQUIRED_ELEMENTS`]) from a resource, from the
/// resources it contains, and from every resource in a Bundle (nested Bundles too).
fn leave_out_required(resource: &mut Value) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let resource_type = object.get("resourceType").and_then(Value::as_str);
    if resource_type == Some("Bundle") {
        for entry in object
            .get_mut("entry")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(inner) = entry.get_mut("resource") {
                leave_out_required(inner);
            }
        }
        return;
    }
    let required = REQUIRED_ELEMENTS
        .iter()
        .find(|(t, _)| Some(*t) == resource_type)
        .map_or(&[][..], |(_, elements)| *elements);
    object.retain(|key, _| {
        let name = key.strip_prefix('_').unwrap_or(key);
        !required
            .iter()
            .any(|element| match element.strip_suffix("[x]") {
                Some(choice) => name
                    .strip_prefix(choice)
                    .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase())),
                None => name == *element,
            })
    });
    for contained in object
        .get_mut("contained")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        leave_out_required(contained);
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

/// The body of a `Huge` answer, made a chunk at a time: [`HUGE_HEAD`], numbered padding
/// entries separated by commas, spaces to make up the exact size, [`HUGE_TAIL`].
struct HugeBody {
    /// The whole of a body too small for the Bundle's frame: the frame's start, cut.
    cut: Option<Bytes>,
    head: bool,
    entries: std::ops::Range<u64>,
    spaces: usize,
    tail: bool,
}

/// Writes padding entry `n` (every entry has the same length: `n` has ten digits).
fn write_padding_entry(n: u64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"resource":{{"resourceType":"Basic","id":"padding-{n:010}","code":{{"text":"padding"}}}}}}"#
    );
}

impl HugeBody {
    fn new(bytes: usize) -> Self {
        let frame = HUGE_HEAD.len() + HUGE_TAIL.len();
        if bytes < frame {
            let start = format!("{HUGE_HEAD}{HUGE_TAIL}").into_bytes();
            return HugeBody {
                cut: Some(Bytes::copy_from_slice(&start[..bytes])),
                head: false,
                entries: 0..0,
                spaces: 0,
                tail: false,
            };
        }
        let room = bytes - frame;
        let mut entry = Vec::new();
        write_padding_entry(0, &mut entry);
        // n entries take n × (entry + comma) − 1 bytes.
        let with_comma = entry.len() + 1;
        let count = u64::try_from((room + 1) / with_comma)
            .unwrap_or(u64::MAX)
            .min(MAX_PADDING_ENTRIES);
        let used = usize::try_from(count).map_or(room, |n| (n * with_comma).saturating_sub(1));
        HugeBody {
            cut: None,
            head: true,
            entries: 0..count,
            spaces: room - used,
            tail: true,
        }
    }
}

impl Iterator for HugeBody {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(cut) = self.cut.take() {
            return (!cut.is_empty()).then_some(cut);
        }
        // Room for the entry that crosses the chunk's size.
        let mut chunk = Vec::with_capacity(HUGE_CHUNK_BYTES + 128);
        if std::mem::take(&mut self.head) {
            chunk.extend_from_slice(HUGE_HEAD.as_bytes());
        }
        while chunk.len() < HUGE_CHUNK_BYTES {
            if let Some(n) = self.entries.next() {
                if n > 0 {
                    chunk.push(b',');
                }
                write_padding_entry(n, &mut chunk);
            } else if self.spaces > 0 {
                let spaces = self.spaces.min(HUGE_CHUNK_BYTES - chunk.len());
                chunk.resize(chunk.len() + spaces, b' ');
                self.spaces -= spaces;
            } else if std::mem::take(&mut self.tail) {
                chunk.extend_from_slice(HUGE_TAIL.as_bytes());
            } else {
                break;
            }
        }
        (!chunk.is_empty()).then(|| Bytes::from(chunk))
    }
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

    #[test]
    fn resource_type_comes_first_and_the_json_is_unchanged() {
        let value = serde_json::json!({
            "entry": [{ "resource": { "id": "x", "resourceType": "Patient", "name": "\"å\"" } }],
            "resourceType": "Bundle",
            "total": 1.5
        });
        let mut out = Vec::new();
        write_fhir_json(&value, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"resourceType":"Bundle","#), "{text}");
        assert!(
            text.contains(r#"{"resourceType":"Patient","id":"x""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    fn huge_body(bytes: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for chunk in HugeBody::new(bytes) {
            assert!(!chunk.is_empty());
            assert!(chunk.len() <= HUGE_CHUNK_BYTES + 128, "{}", chunk.len());
            body.extend_from_slice(&chunk);
        }
        body
    }

    #[test]
    fn a_huge_body_has_exactly_its_size_and_is_a_searchset_bundle() {
        let frame = HUGE_HEAD.len() + HUGE_TAIL.len();
        for bytes in [
            frame,
            frame + 1,
            frame + 89,
            frame + 90,
            1000,
            65_536,
            1_000_003,
        ] {
            let body = huge_body(bytes);
            assert_eq!(body.len(), bytes);
            let bundle: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(bundle["resourceType"], "Bundle");
            assert_eq!(bundle["type"], "searchset");
            let entries = bundle["entry"].as_array().unwrap();
            let ids: std::collections::HashSet<&str> = entries
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap())
                .collect();
            assert_eq!(
                ids.len(),
                entries.len(),
                "every padding entry has its own id"
            );
            assert!(
                entries
                    .iter()
                    .all(|e| e["resource"]["resourceType"] == "Basic")
            );
        }
        assert_eq!(
            serde_json::from_slice::<Value>(&huge_body(frame + 1000)).unwrap()["entry"]
                .as_array()
                .unwrap()
                .len(),
            11
        );
    }

    #[test]
    fn a_huge_body_too_small_for_a_bundle_is_the_start_of_one() {
        assert!(huge_body(0).is_empty());
        assert_eq!(huge_body(16), &HUGE_HEAD.as_bytes()[..16]);
    }

    #[test]
    fn the_required_elements_are_left_out_and_everything_else_kept() {
        let mut bundle = serde_json::json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 3,
            "entry": [
                { "resource": {
                    "resourceType": "MedicationRequest", "id": "m1",
                    "status": "active", "_status": { "extension": [] }, "intent": "order",
                    "medicationReference": { "reference": "Medication/med1" },
                    "subject": { "reference": "Patient/p" },
                    "authoredOn": "2026-01-01", "statusReason": { "text": "kept" },
                    "contained": [{ "resourceType": "Observation", "id": "o", "status": "final",
                                    "code": { "text": "x" }, "valueString": "kept" }]
                }, "search": { "mode": "match" } },
                { "resource": {
                    "resourceType": "Medication", "id": "med1", "status": "active",
                    "code": { "text": "Alvedon" }
                }, "search": { "mode": "include" } },
                { "resource": {
                    "resourceType": "Observation", "id": "o2", "status": "final",
                    "code": { "text": "Vikt" }, "effectiveDateTime": "2026-01-01",
                    "valueQuantity": { "value": 80 }
                }, "search": { "mode": "match" } }
            ]
        });

        leave_out_required(&mut bundle);

        let request = &bundle["entry"][0]["resource"];
        assert_eq!(
            request,
            &serde_json::json!({
                "resourceType": "MedicationRequest", "id": "m1",
                "authoredOn": "2026-01-01", "statusReason": { "text": "kept" },
                "contained": [{ "resourceType": "Observation", "id": "o", "valueString": "kept" }]
            })
        );
        assert_eq!(
            bundle["entry"][1]["resource"]["status"], "active",
            "Medication requires nothing"
        );
        let observation = &bundle["entry"][2]["resource"];
        assert!(observation.get("status").is_none() && observation.get("code").is_none());
        assert_eq!(observation["effectiveDateTime"], "2026-01-01");
        assert_eq!(bundle["total"], 3);
        assert_eq!(bundle["entry"][2]["search"]["mode"], "match");
    }

    #[test]
    fn a_choice_element_goes_in_every_type_but_a_longer_name_stays() {
        let mut statement = serde_json::json!({
            "resourceType": "MedicationStatement",
            "medicationCodeableConcept": { "text": "x" },
            "medicationsKept": true,
            "medication": "not a choice type",
            "effectivePeriod": { "start": "2026" }
        });
        leave_out_required(&mut statement);
        assert_eq!(
            statement,
            serde_json::json!({
                "resourceType": "MedicationStatement",
                "medicationsKept": true,
                "medication": "not a choice type",
                "effectivePeriod": { "start": "2026" }
            })
        );
    }

    /// A connected pair on loopback: the client's end, and the server's wrapped as the
    /// simulator wraps the connections it accepts.
    async fn connection_pair(stopping: watch::Receiver<bool>) -> (TcpStream, SimConnection) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, SimConnection::new(server, stopping))
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
            assert!(serde_json::from_slice::<Value>(&cut).is_err(), "{text}");
            assert!(std::str::from_utf8(&cut).is_ok());
        }
    }
}
