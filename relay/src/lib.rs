//! The syncline reference relay: a WebSocket server for the syncline envelope protocol
//! (PROTOCOL.md) that stores publishes in SQLite, dedups them by id and replays channel
//! history on `since`; with test-only fault modes and a supervisor that can kill it for real.

pub mod auth;
pub mod config;
mod conn;
mod control;
pub mod db;
pub mod hub;
pub mod outq;
mod replay;
pub mod server;
pub mod stats;
pub mod store;
pub mod supervisor;
pub mod wire;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
