//! The accept loop: HTTP/1.1 connections served by hyper with a header read timeout and a cap on
//! the connections open at once per client address, the peer's address handed to every request
//! (`ConnectInfo`), upgrades (WebSocket) allowed, and a graceful shutdown that finishes the
//! requests in flight.
//!
//! Written out rather than `axum::serve`, which can do neither defence: hyper's header read
//! timeout needs a timer axum does not give it, and axum has no hook to refuse a connection. A
//! client trickling its headers held a connection (and its task) for as long as it liked; a
//! client opening thousands of idle connections held as many.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::Service;

use super::rate_limit::client_key;
use crate::config::ServerSettings;

/// Serves `router` on `listener` until `shutdown` completes; then accepts no more connections,
/// lets the open ones finish the requests they are answering, and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(ConnectionCounts::new(settings.max_connections_per_ip));
    // Shutdown by hand rather than hyper-util's GracefulShutdown, which cannot watch a
    // connection that may be upgraded: `stop` tells every connection to finish, and
    // `closed` ends when the last connection task has dropped its sender.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (open, mut closed) = tokio::sync::mpsc::channel::<()>(1);
    let mut builder = http1::Builder::new();
    // From when hyper starts waiting for a request's head (a new connection, or the end of the
    // previous answer) until the whole head is in, however steadily bytes trickle.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = connections.open(peer.ip()) else {
            // Closed before anything is read or any task is started. Not logged with the
            // address (no client addresses in the log), nor above debug: a flood of these
            // would flood the log.
            tracing::debug!("connection closed at once: its address has the most connections");
            drop(stream);
            continue;
        };
        // Small answers go out at once rather than waiting for more to send (as axum::serve).
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { router.call(request.map(Body::new)).await }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            // An error here is the client's doing (gone, or too slow with its headers): the
            // connection is closed either way, and there is nobody to tell.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
            drop(open);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    let _ = closed.recv().await;
    Ok(())
}

/// As axum::serve (and hyper 0.14 before it): a failed handshake is the client's and is
/// ignored; anything else (most likely out of file descriptors) is logged, and accepting
/// resumes after a second, when connections may have closed.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Connections open per client address (as [`client_key`] gives it).
struct ConnectionCounts {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection, counted until dropped.
struct Slot {
    counts: Arc<ConnectionCounts>,
    key: IpAddr,
}

impl ConnectionCounts {
    fn new(max: usize) -> Self {
        ConnectionCounts {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a connection from `ip`, or `None` when its address has `max` open already.
    fn open(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = client_key(ip);
        let mut open = self.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: self.clone(),
            key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Every change is one counter or entry: a panic cannot leave the map half-changed.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                // Only addresses with open connections are kept.
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_max_connections_and_a_closed_one_frees_its_place() {
        let counts = Arc::new(ConnectionCounts::new(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = counts.open(ip).unwrap();
        let _b = counts.open(ip).unwrap();
        assert!(counts.open(ip).is_none());
        assert!(counts.open("192.0.2.2".parse().unwrap()).is_some());
        drop(a);
        let _c = counts.open(ip).expect("a's place is free again");
        assert!(counts.open(ip).is_none());
    }

    #[test]
    fn only_addresses_with_open_connections_are_kept() {
        let counts = Arc::new(ConnectionCounts::new(2));
        let a = counts.open("2001:db8::1".parse().unwrap()).unwrap();
        let b = counts.open("2001:db8::2:3".parse().unwrap()).unwrap();
        assert!(
            counts.open("2001:db8::4".parse().unwrap()).is_none(),
            "the same /64: counted together"
        );
        assert_eq!(counts.lock().len(), 1);
        drop((a, b));
        assert!(counts.lock().is_empty());
    }
}
