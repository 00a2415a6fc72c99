//! `syncline-relay serve …` runs the relay; `syncline-relay supervise …` runs it under a
//! supervisor with a kill/start API. See `--help`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use syncline_relay::auth::ChannelRule;
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
  --max-frame-bytes N   most bytes of a frame packing several messages (default 524288);
                        a client's hello may ask for less with \"max\"
  --max-queue-bytes N   most bytes waiting for one connection; a subscriber past it is
                        closed as a slow consumer (code 4008) (default 8388608)
  --max-message-bytes N largest publish: data + id + channel + event + 64 (default 262144)
  --max-connections N   WebSocket connections at once; more get HTTP 503 (default 10000)
  --max-channels N      channels one connection may subscribe to (default 1000)
  --publish-rate N      publishes per second per connection, 0 for no limit (default 10000)
  --retain-events N     keep the newest N events per channel, 0 for all (default 0)
  --retain-ms MS        remove events older than MS milliseconds, 0 for never (default 0)
  --replay-page N       events per history read while replaying (default 500)
  --allowed-origin O    accept WebSocket upgrades only from this Origin (repeatable;
                        default: any); requests without Origin are not browsers, accepted
  --channel-rule P=T    channels starting with P need token T in hello (repeatable)
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
            // issue 20: limits, retention and access (one block, see --help).
            "--max-queue-bytes"
            | "--max-message-bytes"
            | "--max-connections"
            | "--max-channels"
            | "--publish-rate"
            | "--retain-events"
            | "--retain-ms"
            | "--replay-page" => {
                let v = value(&flag)?;
                let n: u64 = v.parse().map_err(|_| format!("bad {flag} {v:?}"))?;
                let size = usize::try_from(n).map_err(|_| format!("bad {flag} {v:?}"))?;
                match flag.as_str() {
                    "--max-queue-bytes" => config.max_queue_bytes = size,
                    "--max-message-bytes" => config.max_message_bytes = size,
                    "--max-connections" => config.max_connections = size,
                    "--max-channels" => config.max_channels = size,
                    "--publish-rate" => {
                        config.publish_rate =
                            u32::try_from(n).map_err(|_| format!("bad {flag} {v:?}"))?;
                    }
                    "--retain-events" => config.retention.events = n,
                    "--retain-ms" => config.retention.ms = n,
                    _ => config.replay_page = size,
                }
                pass.push(v);
            }
            "--allowed-origin" => {
                let v = value("--allowed-origin")?;
                config.allowed_origins.push(v.clone());
                pass.push(v);
            }
            "--channel-rule" => {
                let v = value("--channel-rule")?;
                let rule = ChannelRule::parse(&v)
                    .ok_or(format!("bad --channel-rule {v:?}: PREFIX=TOKEN"))?;
                config.channel_rules.push(rule);
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
