//! The relay's HTTP server: `/ws` for clients, `/control/*` for tests, static files for the demo.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
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

async fn upgrade(State(hub): State<Arc<Hub>>, ws: WebSocketUpgrade) -> Response {
    if hub.faults().refuse_connections {
        hub.stats.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "refusing connections").into_response();
    }
    ws.max_message_size(16 << 20)
        .on_upgrade(move |socket| crate::conn::serve(socket, hub))
}

/// Binds and starts serving in the background.
pub async fn start(config: ServeConfig) -> io::Result<Running> {
    let hub = Arc::new(Hub::new(&config).map_err(io::Error::other)?);
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
