//! `syncline-relay serve …` runs the relay; `syncline-relay supervise …` runs it under a
//! supervisor with a kill/start API. See `--help`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use syncline_relay::config::{Faults, ServeConfig};
use syncline_relay::supervisor::{self, SupervisorConfig};

const HELP: &str = "\
syncline-relay: reference server for the syncline envelope protocol

USAGE:
  syncline-relay serve [OPTIONS]
  syncline-relay supervise --control-port PORT [OPTIONS]

OPTIONS (serve):
  --host ADDR           listen address (default 127.0.0.1)
  --port PORT           listen port (default 9301)
  --db PATH             SQLite database (default syncline-relay.sqlite)
  --token TOKEN         token clients must send in hello (default: none)
  --control             serve the test-only /control/* endpoints; they (and the
                        supervisor's) need the secret in SYNCLINE_CONTROL_SECRET
                        (16+ characters) in each request's x-syncline-secret header
  --control-origin URL  the one web origin whose pages may call them (CORS)
  --static DIR          serve DIR over HTTP at / (the demo page)
  --faults JSON         faults active from the start, e.g. '{\"dropEveryNthAck\":3}'
  --history-limit N     most events replayed for one `since` (default 10000)
  --max-frame-bytes N   most bytes of a frame packing several messages (default 524288)
  --exit-with-stdin     exit when stdin closes (set by the supervisor)

supervise runs `serve` with the same options as a child process and serves
POST /start, /kill, /restart, /reset and GET /status, /ids on --control-port.
";

struct Args {
    supervise: bool,
    control_port: Option<u16>,
    exit_with_stdin: bool,
    config: ServeConfig,
    /// Options as given, passed on to a supervised child.
    serve_args: Vec<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mode = argv.next().ok_or("missing command: serve or supervise")?;
    let supervise = match mode.as_str() {
        "serve" => false,
        "supervise" => true,
        "-h" | "--help" | "help" => return Err(String::new()),
        other => return Err(format!("unknown command {other:?}")),
    };
    let mut host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut port = 9301u16;
    let mut config = ServeConfig::new(
        SocketAddr::new(host, port),
        PathBuf::from("syncline-relay.sqlite"),
    );
    let mut args = Args {
        supervise,
        control_port: None,
        exit_with_stdin: false,
        config: config.clone(),
        serve_args: Vec::new(),
    };
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value"));
        let mut pass = vec![flag.clone()];
        match flag.as_str() {
            "--host" => {
                let v = value("--host")?;
                host = v.parse().map_err(|_| format!("bad --host {v:?}"))?;
                pass.push(v);
            }
            "--port" => {
                let v = value("--port")?;
                port = v.parse().map_err(|_| format!("bad --port {v:?}"))?;
                pass.push(v);
            }
            "--db" => {
                let v = value("--db")?;
                config.db = PathBuf::from(&v);
                pass.push(v);
            }
            "--token" => {
                let v = value("--token")?;
                config.token = Some(v.clone());
                pass.push(v);
            }
            "--control" => config.control = true,
            "--control-origin" => {
                let v = value("--control-origin")?;
                config.control_origin = Some(v.clone());
                pass.push(v);
            }
            "--static" => {
                let v = value("--static")?;
                config.static_dir = Some(PathBuf::from(&v));
                pass.push(v);
            }
            "--faults" => {
                let v = value("--faults")?;
                config.faults =
                    serde_json::from_str::<Faults>(&v).map_err(|e| format!("bad --faults: {e}"))?;
                pass.push(v);
            }
            "--history-limit" => {
                let v = value("--history-limit")?;
                config.history_limit = v
                    .parse()
                    .map_err(|_| format!("bad --history-limit {v:?}"))?;
                pass.push(v);
            }
            "--max-frame-bytes" => {
                let v = value("--max-frame-bytes")?;
                config.max_frame_bytes = v
                    .parse()
                    .map_err(|_| format!("bad --max-frame-bytes {v:?}"))?;
                pass.push(v);
            }
            "--control-port" => {
                let v = value("--control-port")?;
                args.control_port =
                    Some(v.parse().map_err(|_| format!("bad --control-port {v:?}"))?);
                continue;
            }
            "--exit-with-stdin" => {
                args.exit_with_stdin = true;
                continue;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
        args.serve_args.extend(pass);
    }
    config.addr = SocketAddr::new(host, port);
    config.control_secret = std::env::var(supervisor::SECRET_ENV).ok();
    args.config = config;
    Ok(args)
}

async fn exit_when_stdin_closes() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn serve(args: Args) -> std::io::Result<()> {
    let running = syncline_relay::server::start(args.config).await?;
    eprintln!("syncline-relay: listening on ws://{}/ws", running.addr);
    if args.exit_with_stdin {
        tokio::select! {
            () = syncline_relay::shutdown_signal() => {}
            () = exit_when_stdin_closes() => {}
        }
    } else {
        syncline_relay::shutdown_signal().await;
    }
    running.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("syncline-relay: {message}\n");
            }
            eprint!("{HELP}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("syncline-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        if args.supervise {
            let Some(control_port) = args.control_port else {
                eprintln!("syncline-relay: supervise needs --control-port");
                return Ok(());
            };
            supervisor::run(SupervisorConfig {
                control_addr: SocketAddr::new(args.config.addr.ip(), control_port),
                relay_addr: args.config.addr,
                db: args.config.db.clone(),
                serve_args: args.serve_args,
                control_secret: args.config.control_secret.clone(),
                control_origin: args.config.control_origin.clone(),
            })
            .await
        } else {
            serve(args).await
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncline-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
