//! A supervisor that owns a relay process and kills or restarts it on request, so that browser
//! tests can take the server away for real (SIGKILL: no close frames, no goodbyes) with `fetch`.
//!
//! The child reads its stdin and exits when it closes, so a relay never outlives its supervisor.
//! Every endpoint needs the per-run secret, like the relay's `/control/*` (see `control::guard`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::control::guard::{self, Guard};
use crate::store::Store;

/// The environment variable holding the per-run secret of the test endpoints.
pub use crate::control::guard::SECRET_ENV;

/// How to run the supervised relay.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Where the supervisor's own HTTP API listens.
    pub control_addr: SocketAddr,
    /// Where the relay listens (to know when it is up).
    pub relay_addr: SocketAddr,
    /// The relay's database (for `/ids` and `/reset`).
    pub db: PathBuf,
    /// Arguments after `serve` for the child.
    pub serve_args: Vec<String>,
    /// The per-run secret every request must carry (the child gets it too, by environment).
    pub control_secret: Option<String>,
    /// The one web origin whose pages may call the API (CORS for it alone).
    pub control_origin: Option<String>,
}

struct Supervised {
    config: SupervisorConfig,
    child: Option<Child>,
    starts: u64,
}

type Shared = Arc<Mutex<Supervised>>;

impl Supervised {
    /// Starts the relay unless running; `extra` arguments apply to this start only.
    async fn start(&mut self, extra: &[String]) -> Result<(), String> {
        if let Some(child) = &mut self.child {
            if matches!(child.try_wait(), Ok(None)) {
                return Ok(());
            }
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--exit-with-stdin")
            .args(&self.config.serve_args)
            .args(extra)
            .envs(
                self.config
                    .control_secret
                    .as_ref()
                    .map(|secret| (guard::SECRET_ENV, secret)),
            )
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start relay: {e}"))?;
        self.child = Some(child);
        self.starts += 1;
        // Ready when the port accepts connections.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.config.relay_addr)
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err("relay did not start listening within 5 s".to_owned())
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }
}

fn reply(result: Result<serde_json::Value, String>) -> Response {
    match result {
        Ok(v) => ([("content-type", "application/json")], v.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

#[derive(Deserialize, Default)]
struct StartBody {
    #[serde(default)]
    args: Vec<String>,
}

/// Extra `serve` arguments for this start, e.g. `{"args": ["--faults", "{...}"]}`.
fn start_args(body: &str) -> Result<Vec<String>, String> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str::<StartBody>(body)
        .map(|b| b.args)
        .map_err(|e| format!("bad JSON body: {e}"))
}

async fn start(State(s): State<Shared>, body: String) -> Response {
    let extra = match start_args(&body) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut s = s.lock().await;
    let r = s.start(&extra).await;
    reply(r.map(|()| json!({ "running": true, "pid": s.pid(), "starts": s.starts })))
}

async fn kill(State(s): State<Shared>) -> Response {
    let mut s = s.lock().await;
    s.kill().await;
    reply(Ok(json!({ "running": false })))
}

async fn restart(State(s): State<Shared>, body: String) -> Response {
    let extra = match start_args(&body) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut s = s.lock().await;
    s.kill().await;
    let r = s.start(&extra).await;
    reply(r.map(|()| json!({ "running": true, "pid": s.pid(), "starts": s.starts })))
}

/// Kills the relay, deletes its database and starts it again: a clean slate for a test.
async fn reset(State(s): State<Shared>) -> Response {
    let mut s = s.lock().await;
    s.kill().await;
    let db = s.config.db.clone();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let r = s.start(&[]).await;
    reply(r.map(|()| json!({ "running": true, "pid": s.pid(), "starts": s.starts })))
}

async fn status(State(s): State<Shared>) -> Response {
    let mut s = s.lock().await;
    let running = match &mut s.child {
        Some(child) => matches!(child.try_wait(), Ok(None)),
        None => false,
    };
    reply(Ok(
        json!({ "running": running, "pid": s.pid(), "starts": s.starts }),
    ))
}

#[derive(Deserialize)]
struct IdsQuery {
    ch: Option<String>,
}

/// Stored publish ids, read straight from the database (works while the relay is down).
async fn ids(State(s): State<Shared>, Query(q): Query<IdsQuery>) -> Response {
    let db = s.lock().await.config.db.clone();
    let r = Store::open(&db)
        .and_then(|store| store.ids(q.ch.as_deref()))
        .map(|ids| json!({ "count": ids.len(), "ids": ids }))
        .map_err(|e| e.to_string());
    reply(r)
}

/// Starts the relay and serves the supervisor API until SIGINT or SIGTERM.
pub async fn run(config: SupervisorConfig) -> std::io::Result<()> {
    let control_addr = config.control_addr;
    let guard = Guard::new(
        config.control_secret.as_deref(),
        config.control_origin.as_deref(),
    )
    .map_err(std::io::Error::other)?;
    let shared: Shared = Arc::new(Mutex::new(Supervised {
        config,
        child: None,
        starts: 0,
    }));
    if let Err(e) = shared.lock().await.start(&[]).await {
        eprintln!("syncline-relay supervise: {e}");
    }
    let app = Router::new()
        .route("/start", post(start))
        .route("/kill", post(kill))
        .route("/restart", post(restart))
        .route("/reset", post(reset))
        .route("/status", get(status))
        .route("/ids", get(ids))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind(control_addr).await?;
    eprintln!("syncline-relay supervise: control on http://{control_addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    shared.lock().await.kill().await;
    Ok(())
}
