//! Test-only HTTP endpoints under `/control/` (served only with `--control`): change faults
//! and the token at run time, drop connections, push events and forged frames, read counters.
//! Every one needs the per-run secret (see `guard`).

pub mod guard;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Faults;
use crate::hub::Hub;

/// The `/control` routes, behind `guard`.
pub fn routes(guard: guard::Guard) -> Router<Arc<Hub>> {
    Router::new()
        .route("/control/stats", get(stats))
        .route("/control/faults", get(get_faults).post(set_faults))
        .route("/control/token", post(set_token))
        .route("/control/kick", post(kick))
        .route("/control/push", post(push))
        .route("/control/raw", post(raw))
        .route("/control/ids", get(ids))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

fn json_response(value: Value) -> Response {
    ([("content-type", "application/json")], value.to_string()).into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// Bodies are read as text so that a plain `fetch(url, {method, body})` works.
fn parse<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, Response> {
    let body = if body.trim().is_empty() { "{}" } else { body };
    serde_json::from_str(body).map_err(|e| bad_request(format!("bad JSON body: {e}")))
}

async fn stats(State(hub): State<Arc<Hub>>) -> Response {
    json_response(json!(hub.stats_view()))
}

async fn get_faults(State(hub): State<Arc<Hub>>) -> Response {
    json_response(json!(hub.faults()))
}

async fn set_faults(State(hub): State<Arc<Hub>>, body: String) -> Response {
    match parse::<Faults>(&body) {
        Ok(faults) => {
            hub.set_faults(faults);
            json_response(json!(hub.faults()))
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct TokenBody {
    token: Option<String>,
}

async fn set_token(State(hub): State<Arc<Hub>>, body: String) -> Response {
    match parse::<TokenBody>(&body) {
        Ok(t) => {
            hub.set_token(t.token);
            json_response(json!({ "token": hub.token() }))
        }
        Err(r) => r,
    }
}

async fn kick(State(hub): State<Arc<Hub>>) -> Response {
    hub.kick_all();
    json_response(json!({ "kicked": true }))
}

#[derive(Deserialize)]
struct PushBody {
    ch: String,
    ev: String,
    #[serde(default)]
    data: Value,
    #[serde(default = "one")]
    count: u64,
}

fn one() -> u64 {
    1
}

/// Publishes from the server side, as an app backend would; each event gets its own id.
/// Server pushes are not subject to the publish faults (those model the relay refusing a client).
async fn push(State(hub): State<Arc<Hub>>, body: String) -> Response {
    let p = match parse::<PushBody>(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data = p.data.to_string();
    let prefix = format!("srv-{}-", crate::hub::unix_ms());
    // One transaction per thousand: bulk speed without holding the hub for a whole burst.
    let mut last = 0;
    let mut start = 0;
    while start < p.count {
        let end = p.count.min(start + 1_000);
        match hub
            .push_many(&prefix, &p.ch, &p.ev, &data, start..end)
            .await
        {
            Ok(seq) => last = seq,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
        start = end;
    }
    json_response(json!({ "count": p.count, "lastSeq": last }))
}

#[derive(Deserialize)]
struct RawBody {
    frames: Vec<String>,
    #[serde(default)]
    binary: bool,
    /// Send the frames this many times (a flood), at most 1,000,000; `{{n}}` in a frame
    /// becomes the round's number (1, 2, …), and `{{x:N}}` N letters `x` (at most 64 MiB:
    /// huge frames without a huge request).
    #[serde(default)]
    repeat: Option<usize>,
}

async fn raw(State(hub): State<Arc<Hub>>, body: String) -> Response {
    match parse::<RawBody>(&body) {
        Ok(r) => {
            let repeat = r.repeat.unwrap_or(1).min(1_000_000);
            let mut connections = 0;
            let frames: Vec<String> = r.frames.iter().map(|f| pad(f)).collect();
            let r = RawBody { frames, ..r };
            let numbered = r.frames.iter().any(|f| f.contains("{{n}}"));
            for n in 1..=repeat {
                connections = if numbered {
                    let frames: Vec<String> = r
                        .frames
                        .iter()
                        .map(|f| f.replace("{{n}}", &n.to_string()))
                        .collect();
                    hub.send_raw_to_all(&frames, r.binary)
                } else {
                    hub.send_raw_to_all(&r.frames, r.binary)
                };
            }
            json_response(json!({ "connections": connections }))
        }
        Err(r) => r,
    }
}

/// Replaces the first `{{x:N}}` in `frame` with N letters `x`.
fn pad(frame: &str) -> String {
    let Some(start) = frame.find("{{x:") else {
        return frame.to_owned();
    };
    let rest = &frame[start + 4..];
    let Some(end) = rest.find("}}") else {
        return frame.to_owned();
    };
    let n = rest[..end].parse::<usize>().unwrap_or(0).min(64 << 20);
    format!("{}{}{}", &frame[..start], "x".repeat(n), &rest[end + 2..])
}

#[derive(Deserialize)]
struct IdsQuery {
    ch: Option<String>,
}

async fn ids(State(hub): State<Arc<Hub>>, Query(q): Query<IdsQuery>) -> Response {
    match hub.stored_ids(q.ch.as_deref()).await {
        Ok(ids) => json_response(json!({ "count": ids.len(), "ids": ids })),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
