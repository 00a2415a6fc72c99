//! Load generator for the relay (`make load`): starts a release relay on a free port of
//! 127.0.0.1, opens thousands of WebSocket connections — slow consumers that read almost
//! nothing, subscribers, and publishers measuring the time from `pub` to its durable `ack` —
//! samples the relay's resident memory, and writes target/load/report.json.
//!
//!   cargo run --release -p syncline-relay --example load -- [--connections 5000] [--slow 1000]
//!     [--publishers 200] [--rate 5] [--channels 100] [--slow-channels 40] [--seconds 60]
//!     [--payload 200]
//!     [--queue-bytes 524288] [--relay target/release/syncline-relay] [--legacy] [--out FILE]
//!
//! `--legacy` passes no option the relay of before issue 20 lacks (to measure it for comparison).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

#[derive(Debug, Clone)]
struct Opts {
    connections: usize,
    slow: usize,
    publishers: usize,
    rate: f64,
    channels: usize,
    slow_channels: usize,
    seconds: u64,
    payload: usize,
    queue_bytes: usize,
    relay: PathBuf,
    legacy: bool,
    out: PathBuf,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        connections: 5_000,
        slow: 1_000,
        publishers: 200,
        rate: 5.0,
        channels: 100,
        slow_channels: 40,
        seconds: 60,
        payload: 200,
        queue_bytes: 512 * 1024,
        relay: PathBuf::from("target/release/syncline-relay"),
        legacy: false,
        out: PathBuf::from("target/load/report.json"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--legacy" {
            o.legacy = true;
            continue;
        }
        let v = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_: Box<dyn std::error::Error>| format!("bad {flag} {v:?}");
        match flag.as_str() {
            "--connections" => o.connections = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--slow" => o.slow = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--publishers" => o.publishers = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--rate" => o.rate = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--channels" => o.channels = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--slow-channels" => o.slow_channels = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--seconds" => o.seconds = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--payload" => o.payload = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--queue-bytes" => o.queue_bytes = v.parse().map_err(|e| bad(Box::new(e)))?,
            "--relay" => o.relay = PathBuf::from(v),
            "--out" => o.out = PathBuf::from(v),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.slow + o.publishers > o.connections || o.channels == 0 {
        return Err("--slow + --publishers must not pass --connections; --channels > 0".into());
    }
    Ok(o)
}

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    connect_failed: AtomicU64,
    published: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    delivered: AtomicU64,
    slow_closed_4008: AtomicU64,
    slow_ended_other: AtomicU64,
    ended_unexpectedly: AtomicU64,
}

type Ws = WebSocketStream<TcpStream>;

async fn open(addr: SocketAddr, rcvbuf: Option<u32>) -> Result<Ws, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(size) = rcvbuf {
        socket
            .set_recv_buffer_size(size)
            .map_err(|e| e.to_string())?;
    }
    let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut ws, _) = client_async(format!("ws://{addr}/ws"), stream)
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::text(
        json!({"t": "hello", "v": 1, "client": "load"}).to_string(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    Ok(ws)
}

async fn subscribe(ws: &mut Ws, channels: &[String]) -> Result<(), String> {
    let subs: Vec<Value> = channels
        .iter()
        .map(|ch| json!({"t": "sub", "ch": ch}))
        .collect();
    ws.send(Message::text(Value::Array(subs).to_string()))
        .await
        .map_err(|e| e.to_string())
}

fn messages(frame: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(frame) {
        Ok(Value::Array(items)) => items,
        Ok(one) => vec![one],
        Err(_) => Vec::new(),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn start_relay(o: &Opts, port: u16, db: &std::path::Path) -> std::io::Result<Child> {
    let mut cmd = Command::new(&o.relay);
    cmd.args(["serve", "--port", &port.to_string(), "--db"])
        .arg(db);
    if !o.legacy {
        cmd.args(["--max-connections", &(o.connections + 100).to_string()]);
        cmd.args(["--max-queue-bytes", &o.queue_bytes.to_string()]);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn()
}

async fn request_stats(addr: SocketAddr) -> Option<Value> {
    let mut ws = open(addr, None).await.ok()?;
    ws.send(Message::text(
        json!({"t": "req", "id": "stats", "ev": "stats"}).to_string(),
    ))
    .await
    .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(t) = frame {
            for m in messages(t.as_str()) {
                if m["t"] == "res" && m["id"] == "stats" {
                    return Some(m["data"].clone());
                }
            }
        }
    }
    None
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("syncline-load-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let port = free_port();
    let mut relay = match start_relay(&o, port, &dir.join("relay.sqlite")) {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "load: cannot start {}: {e} (make relay first)",
                o.relay.display()
            );
            std::process::exit(1);
        }
    };
    let pid = relay.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let up = Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        if up.elapsed() > Duration::from_secs(10) {
            eprintln!("load: the relay never listened");
            let _ = relay.kill();
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let result = run(&o, addr, pid).await;
    let _ = relay.kill();
    let _ = relay.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(parent) = o.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    if let Err(e) = std::fs::write(&o.out, &text) {
        eprintln!("load: cannot write {}: {e}", o.out.display());
    }
    let s = &result["summary"];
    println!(
        "load: {} connections ({} slow consumers, {} publishers) for {} s against {}{}",
        o.connections,
        o.slow,
        o.publishers,
        o.seconds,
        o.relay.display(),
        if o.legacy { " (legacy)" } else { "" }
    );
    println!(
        "  publish → durable ack: p50 {} ms, p99 {} ms, max {} ms; {} acks/s; {} acks per commit",
        s["ackP50Ms"], s["ackP99Ms"], s["ackMaxMs"], s["acksPerSecond"], s["acksPerCommit"]
    );
    println!(
        "  relay RSS: start {} MB, max {} MB, end {} MB",
        s["rssStartMb"], s["rssMaxMb"], s["rssEndMb"]
    );
    println!(
        "  slow consumers disconnected: {} by the relay's count, {} saw close 4008, {} other ends",
        s["slowConsumersRelay"], s["slowClosed4008"], s["slowEndedOther"]
    );
    println!(
        "  delivered to subscribers: {}; connect failures: {}; report: {}",
        s["delivered"],
        s["connectFailed"],
        o.out.display()
    );
}

async fn run(o: &Opts, addr: SocketAddr, pid: u32) -> Value {
    let c = Arc::new(Counters::default());
    let clock = Instant::now();
    let rss: Arc<Mutex<Vec<(f64, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let rss = rss.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kb) = rss_kb(pid) {
                    rss.lock().await.push((clock.elapsed().as_secs_f64(), kb));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let channel = |n: usize| format!("load.{}", n % o.channels);
    let run_for = Duration::from_secs(o.seconds);
    let payload = "x".repeat(o.payload);
    let mut tasks = Vec::new();
    // Open in waves so that the accept queue never overflows.
    let wave = 250;
    let stop_at = Arc::new(Mutex::new(None::<Instant>));
    for n in 0..o.connections {
        let kind = if n < o.slow {
            0
        } else if n < o.slow + o.publishers {
            1
        } else {
            2
        };
        let counters = c.clone();
        let latencies = latencies.clone();
        let stop_at = stop_at.clone();
        let mine: Vec<String> = if kind == 0 {
            (0..o.slow_channels).map(|k| channel(n + k * 7)).collect()
        } else {
            vec![channel(n)]
        };
        let payload = payload.clone();
        let (rate, channels) = (o.rate, o.channels);
        tasks.push(tokio::spawn(async move {
            let c = counters;
            let rcvbuf = if kind == 0 { Some(4_096) } else { None };
            let mut ws = match open(addr, rcvbuf).await {
                Ok(ws) => ws,
                Err(_) => {
                    c.connect_failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            c.connected.fetch_add(1, Ordering::Relaxed);
            if kind != 1 && subscribe(&mut ws, &mine).await.is_err() {
                return;
            }
            // Wait until every connection is open before the clock of the run starts.
            let stop = loop {
                if let Some(at) = *stop_at.lock().await {
                    break at;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            match kind {
                0 => slow_consumer(ws, stop, &c).await,
                1 => publisher(ws, stop, n, rate, channels, &payload, clock, &c, &latencies).await,
                _ => subscriber(ws, stop, &c).await,
            }
        }));
        if (n + 1) % wave == 0 {
            while c.connected.load(Ordering::Relaxed) + c.connect_failed.load(Ordering::Relaxed)
                < (n + 1) as u64
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    while c.connected.load(Ordering::Relaxed) + c.connect_failed.load(Ordering::Relaxed)
        < o.connections as u64
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let opened_in = clock.elapsed().as_secs_f64();
    let started = Instant::now();
    *stop_at.lock().await = Some(started + run_for);
    eprintln!(
        "load: {} connections open in {opened_in:.1} s; running {} s",
        c.connected.load(Ordering::Relaxed),
        o.seconds
    );
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = request_stats(addr).await.unwrap_or(Value::Null);
    sampler.abort();
    let rss = rss.lock().await.clone();
    let mut lat = latencies.lock().await.clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mb = |kb: u64| (kb as f64 / 1024.0 * 10.0).round() / 10.0;
    let commits = stats["commits"].as_u64().unwrap_or(0);
    let committed = stats["committed"].as_u64().unwrap_or(0);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    json!({
        "options": {
            "connections": o.connections, "slow": o.slow, "publishers": o.publishers,
            "ratePerPublisher": o.rate, "channels": o.channels, "slowChannels": o.slow_channels,
            "seconds": o.seconds, "payload": o.payload, "queueBytes": o.queue_bytes,
            "relay": o.relay.display().to_string(), "legacy": o.legacy,
        },
        "summary": {
            "connected": load(&c.connected),
            "connectFailed": load(&c.connect_failed),
            "openSeconds": round(opened_in),
            "published": load(&c.published),
            "acked": load(&c.acked),
            "nacked": load(&c.nacked),
            "acksPerSecond": round(load(&c.acked) as f64 / elapsed),
            "ackP50Ms": round(percentile(&lat, 50.0)),
            "ackP99Ms": round(percentile(&lat, 99.0)),
            "ackMaxMs": round(lat.last().copied().unwrap_or(0.0)),
            "commits": commits,
            "acksPerCommit": if commits > 0 { round(committed as f64 / commits as f64) } else { 0.0 },
            "delivered": load(&c.delivered),
            "slowConsumersRelay": stats["slowConsumers"].as_u64(),
            "slowClosed4008": load(&c.slow_closed_4008),
            "slowEndedOther": load(&c.slow_ended_other),
            "endedUnexpectedly": load(&c.ended_unexpectedly),
            "rssStartMb": rss.first().map(|s| mb(s.1)),
            "rssMaxMb": rss.iter().map(|s| s.1).max().map(mb),
            "rssEndMb": rss.last().map(|s| mb(s.1)),
        },
        "relayStats": stats,
        "rss": rss.iter().map(|(t, kb)| json!({"t": round(*t), "mb": mb(*kb)})).collect::<Vec<_>>(),
    })
}

/// Reads one frame every 5 s during the run, then drains to see how it ended.
async fn slow_consumer(mut ws: Ws, stop: Instant, c: &Counters) {
    while Instant::now() < stop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        match tokio::time::timeout(Duration::from_millis(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return end_slow(frame.map(|f| u16::from(f.code)), c);
            }
            Ok(None) | Ok(Some(Err(_))) => return end_slow(None, c),
            _ => {}
        }
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return end_slow(frame.map(|f| u16::from(f.code)), c);
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => return end_slow(None, c),
            Err(_) => {
                // Still open and quiet: never disconnected.
                let _ = ws.close(None).await;
                return;
            }
        }
    }
}

fn end_slow(code: Option<u16>, c: &Counters) {
    if code == Some(4008) {
        c.slow_closed_4008.fetch_add(1, Ordering::Relaxed);
    } else {
        c.slow_ended_other.fetch_add(1, Ordering::Relaxed);
    }
}

async fn subscriber(mut ws: Ws, stop: Instant, c: &Counters) {
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(t)))) => {
                let n = messages(t.as_str())
                    .iter()
                    .filter(|m| m["t"] == "ev")
                    .count();
                c.delivered.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => {
                c.ended_unexpectedly.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    let _ = ws.close(None).await;
}

#[allow(clippy::too_many_arguments)]
async fn publisher(
    ws: Ws,
    stop: Instant,
    n: usize,
    rate: f64,
    channels: usize,
    payload: &str,
    clock: Instant,
    c: &Counters,
    latencies: &Mutex<Vec<f64>>,
) {
    let (mut sink, mut stream) = ws.split();
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    // Spread the publishers' ticks over one period.
    tokio::time::sleep(period.mul_f64((n % 97) as f64 / 97.0)).await;
    let mut tick = tokio::time::interval(period);
    let mut sent = 0u64;
    let mut outstanding = 0u64;
    let mut mine = Vec::new();
    let drain_until = stop + Duration::from_secs(10);
    loop {
        let sending = Instant::now() < stop;
        if !sending && (outstanding == 0 || Instant::now() > drain_until) {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if sending => {
                let micros = clock.elapsed().as_micros();
                let id = format!("{n}-{sent}-{micros}");
                let ch = format!("load.{}", (n + sent as usize) % channels);
                let m = json!({"t": "pub", "id": id, "ch": ch, "ev": "tick", "data": payload});
                if sink.send(Message::text(m.to_string())).await.is_err() {
                    c.ended_unexpectedly.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                sent += 1;
                outstanding += 1;
                c.published.fetch_add(1, Ordering::Relaxed);
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let now = clock.elapsed().as_micros();
                    for m in messages(t.as_str()) {
                        match m["t"].as_str() {
                            Some("ack") => {
                                let sent_at = m["id"].as_str()
                                    .and_then(|id| id.rsplit('-').next())
                                    .and_then(|s| s.parse::<u128>().ok());
                                if let Some(at) = sent_at {
                                    mine.push(now.saturating_sub(at) as f64 / 1000.0);
                                }
                                outstanding = outstanding.saturating_sub(1);
                                c.acked.fetch_add(1, Ordering::Relaxed);
                            }
                            Some("nack") => {
                                outstanding = outstanding.saturating_sub(1);
                                c.nacked.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    c.ended_unexpectedly.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            },
            () = tokio::time::sleep(Duration::from_millis(200)), if !sending => {}
        }
    }
    latencies.lock().await.extend(mine);
    let _ = sink.close().await;
}
