//! The relay's HTTP server: `/ws` for clients, `/control/*` for tests, static files for the demo.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

use crate::config::ServeConfig;
use crate::hub::Hub;

/// A relay that is listening.
pub struct Running {
    /// Where it listens (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// Its shared state.
    pub hub: Arc<Hub>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting and drops every connection.
    pub async fn shutdown(self) {
        self.hub.kick_all();
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Bytes read from a socket at once (frames larger than this still arrive whole).
const READ_BUFFER: usize = 8 * 1024;

/// A place among `--max-connections`, held from the upgrade to the connection's end (or
/// given back when the upgrade fails).
struct Slot(Arc<Hub>);

impl Slot {
    fn take(hub: &Arc<Hub>) -> Option<Self> {
        let taken = hub.stats.connections.fetch_add(1, Ordering::AcqRel);
        if taken >= hub.max_connections as u64 {
            hub.stats.connections.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(hub.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.stats.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if hub.faults().refuse_connections {
        hub.stats.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "refusing connections").into_response();
    }
    // Browsers always send Origin on a WebSocket upgrade; a request without one is not a
    // page of another site (and a non-browser client could send any Origin anyway).
    if !hub.allowed_origins.is_empty() {
        if let Some(origin) = headers.get(ORIGIN) {
            if !hub
                .allowed_origins
                .iter()
                .any(|o| o.as_bytes() == origin.as_bytes())
            {
                hub.stats.refused.fetch_add(1, Ordering::Relaxed);
                return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
            }
        }
    }
    let Some(slot) = Slot::take(&hub) else {
        hub.stats.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let max_in = (16usize << 20).max(hub.max_message_bytes.saturating_mul(4));
    // Small socket buffers (the default is 128 KiB each way, per connection): what waits for a
    // client waits in its bounded queue, and thousands of connections cost megabytes, not GBs.
    ws.max_message_size(max_in)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            crate::conn::serve(socket, hub).await;
            drop(slot);
        })
}

/// Binds and starts serving in the background.
pub async fn start(config: ServeConfig) -> io::Result<Running> {
    let hub = Arc::new(Hub::new(&config).map_err(io::Error::other)?);
    if config.retention.active() {
        // Retention runs on the storage thread, asked once a second.
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(hub) => hub.prune(),
                    None => break,
                }
            }
        });
    }
    let mut app = Router::new().route("/ws", get(upgrade));
    if config.control {
        let guard = crate::control::guard::Guard::new(
            config.control_secret.as_deref(),
            config.control_origin.as_deref(),
        )
        .map_err(io::Error::other)?;
        app = app.merge(crate::control::routes(guard));
    }
    let mut app = app.with_state(hub.clone());
    if let Some(dir) = &config.static_dir {
        app = app.fallback_service(ServeDir::new(dir));
    }
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    // Events are small frames sent as they come: without TCP_NODELAY, Nagle's algorithm holds
    // one back until the client's delayed ACK (tens of milliseconds) whenever another is unacked.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            eprintln!("syncline-relay: server error: {e}");
        }
    });
    Ok(Running {
        addr,
        hub,
        stop,
        task,
    })
}
