//! A time-boxed mutational fuzzer for syncline's decoders and the client core.
//!
//! `cargo run --example fuzz -- [--seconds N] [--seed S] [target…]` runs each target for N
//! seconds (default 10) in the dev profile, where integer overflow panics too. Targets:
//! `envelope` (server and client frames: decode, and re-encode what decodes), `socketio`
//! (Engine.IO and Socket.IO packets, the same), `tabs` (the tab-bus message decoder),
//! `core` (a connected client fed the mutated server frames, envelope and Socket.IO), and
//! `leader` (a leader tab fed mutated follower frames). Inputs start from valid seeds and are
//! mutated (bytes flipped, inserted, deleted, duplicated, spliced with other seeds, JSON
//! tokens and deep nesting inserted). Any panic prints the target and the input and exits 1.
//!
//! cargo-fuzz needs a nightly toolchain, which this project's machines do not have; this runs
//! on stable, with no coverage guidance, and is fast enough to try millions of inputs.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::{Duration, Instant};

    use syncline::core::tabs::{TabBody, TabMessage};
    use syncline::core::{ClientCore, Config, Protocol, Role};
    use syncline::protocol::envelope::{self, RawJson};
    use syncline::protocol::socketio::{EnginePacket, Packet};

    const ENVELOPE_SERVER: &[&str] = &[
        r#"{"t":"welcome","v":1,"session":"s1"}"#,
        r#"{"t":"denied","reason":"bad token"}"#,
        r#"{"t":"subscribed","ch":"c","seq":4}"#,
        r#"{"t":"ev","ch":"c","ev":"e","seq":5,"id":"x","data":{"a":[1,2,{"b":null}],"s":"\u00e9\n"}}"#,
        r#"{"t":"ev","ch":"docs","ev":"doc","seq":6,"data":{"key":"k","patch":{"a":1},"ts":1,"by":"t"}}"#,
        r#"{"t":"ack","id":"p1","seq":9}"#,
        r#"{"t":"nack","id":"p1","reason":"no","retryable":true}"#,
        r#"{"t":"res","id":"tab.r1","ok":true,"data":[1,2.5e3,-0,true]}"#,
        r#"{"t":"res","id":"tab.r1","ok":false,"error":{"code":"c","msg":"m"}}"#,
        r#"{"t":"ping","ts":12}"#,
        r#"{"t":"pong","ts":12}"#,
        r#"{"t":"error","code":"bad_json","msg":"x"}"#,
        r#"[{"t":"ack","id":"a","seq":1},{"t":"ev","ch":"c","ev":"e","seq":7,"data":1,"args":true}]"#,
    ];

    const ENVELOPE_CLIENT: &[&str] = &[
        r#"{"t":"hello","v":1,"client":"c1","token":"t"}"#,
        r#"{"t":"sub","ch":"c","since":3}"#,
        r#"{"t":"unsub","ch":"c"}"#,
        r#"{"t":"pub","id":"p1","ch":"c","ev":"e","durable":true,"data":{"n":1}}"#,
        r#"{"t":"req","id":"r1","ev":"echo","args":true,"data":[1,"two"]}"#,
        r#"{"t":"emit","ev":"typing","data":{"who":"a"}}"#,
        r#"{"t":"ping","ts":1}"#,
        r#"[{"t":"pong","ts":1},{"t":"sub","ch":"d"}]"#,
    ];

    const SOCKETIO: &[&str] = &[
        r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        "1",
        "2",
        "3probe",
        "6",
        r#"40{"sid":"S1"}"#,
        r#"40/admin,{"sid":"S1"}"#,
        r#"44{"message":"unauthorized","data":{"code":1}}"#,
        "41",
        r#"42["c",{"a":1},2,"x"]"#,
        r#"4212["c",{"a":1}]"#,
        r#"430[{"ok":true,"seq":3}]"#,
        r#"431[{"error":"no","retryable":false}]"#,
        r#"451-["c",{"_placeholder":true,"num":0}]"#,
        r#"461-/admin,3[{"_placeholder":true,"num":0}]"#,
    ];

    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        "\\u",
        "\\ud800",
        ",",
        ":",
        "null",
        "true",
        "-",
        "1e999",
        "0.0000001",
        "18446744073709551616",
        "\"t\":",
        "\"seq\":",
        "\"id\":",
        "/",
        "/admin,",
        "-",
        "\u{0}",
        "\u{7f}",
        "é",
        "😀",
        "42",
        "43",
    ];

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next() % n as u64) as usize
            }
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// A mutated copy of a seed (valid UTF-8: decoders take text).
    fn mutate(rng: &mut Rng, seeds: &[&str]) -> String {
        let mut bytes = rng.pick(seeds).as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(8) {
                0 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
                1 => bytes.insert(at, rng.next() as u8),
                2 if at < bytes.len() => {
                    let end = (at + 1 + rng.below(8)).min(bytes.len());
                    bytes.drain(at..end);
                }
                3 if at < bytes.len() => {
                    let end = (at + 1 + rng.below(16)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy);
                }
                4 => {
                    let other = rng.pick(seeds).as_bytes();
                    let from = rng.below(other.len());
                    bytes.splice(at..at, other[from..].iter().copied());
                }
                5 => {
                    let depth = 1 + rng.below(300);
                    let open = if rng.below(2) == 0 { "[" } else { "{\"a\":" };
                    bytes.splice(at..at, open.repeat(depth).into_bytes());
                }
                6 => bytes.truncate(at),
                _ => {
                    let token = rng.pick(TOKENS).as_bytes().to_vec();
                    bytes.splice(at..at, token);
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn envelope(input: &str) {
        if let Ok(messages) = envelope::decode_server_frame(input) {
            for message in messages.into_iter().flatten() {
                let again = envelope::decode_server_frame(&message.encode()).expect("re-encoded");
                assert_eq!(again.len(), 1);
                assert_eq!(again.into_iter().next().and_then(Result::ok), Some(message));
            }
        }
        if let Ok(messages) = envelope::decode_client_frame(input) {
            for message in messages.into_iter().flatten() {
                let again = envelope::decode_client_frame(&message.encode()).expect("re-encoded");
                assert_eq!(again.into_iter().next().and_then(Result::ok), Some(message));
            }
        }
    }

    fn socketio(input: &str) {
        if let Ok(EnginePacket::Message(text)) = EnginePacket::decode(input) {
            if let Ok(packet) = Packet::decode(text) {
                let frame = packet.encode();
                let Ok(EnginePacket::Message(again)) = EnginePacket::decode(&frame) else {
                    panic!("re-encoded packet {frame:?} is not a message");
                };
                assert_eq!(Packet::decode(again), Ok(packet));
            }
        }
    }

    fn tabs(input: &str) {
        if let Ok(message) = TabMessage::decode(input, "syncline:k") {
            let again = message.encode().expect("a decoded message encodes");
            assert_eq!(TabMessage::decode(&again, "syncline:k"), Ok(message));
        }
    }

    /// A connected client (envelope or Socket.IO) that the inputs are fed to as frames.
    struct Client {
        core: ClientCore,
        now: u64,
        attempt: u64,
    }

    impl Client {
        fn new(socketio: bool, role: Option<Role>) -> Self {
            let mut config = Config::new("ws://fuzz.test/", "fuzz");
            if socketio {
                config.protocol =
                    Protocol::SocketIo(syncline::protocol::socketio::SocketIoConfig::new("/"));
            }
            let mut c = Self {
                core: ClientCore::new(config),
                now: 1_000,
                attempt: 0,
            };
            c.core
                .handle_storage_loaded(c.now, Vec::new(), Vec::new(), 0);
            if let Some(role) = role {
                c.core.set_role(c.now, role);
            }
            c.core.connect(c.now);
            c.drain();
            c.core.handle_socket_open(c.now, c.attempt);
            if socketio {
                c.core.handle_frame(c.now, c.attempt, SOCKETIO[0]);
                c.core.handle_frame(c.now, c.attempt, r#"40{"sid":"S"}"#);
            } else {
                c.core.handle_frame(c.now, c.attempt, ENVELOPE_SERVER[0]);
            }
            c.core.subscribe(c.now, "c", None, 0, None);
            c.core.subscribe(c.now, "docs", None, 0, Some(1));
            c.drain();
            c
        }

        fn drain(&mut self) {
            while let Some(action) = self.core.poll_action() {
                if let syncline::core::Action::OpenSocket { attempt, .. } = action {
                    self.attempt = attempt;
                    self.core.handle_socket_open(self.now, attempt);
                }
            }
            while self.core.poll_event().is_some() {}
        }

        fn feed(&mut self, rng: &mut Rng, input: &str, leader: bool) {
            self.now += rng.below(3_000) as u64;
            match rng.below(10) {
                0 => {
                    let random: [u8; 10] = [rng.next() as u8; 10];
                    let id = self.core.next_publish_id(self.now, random);
                    let _ = self.core.publish_durable(
                        self.now,
                        id,
                        "c".to_owned(),
                        "e".to_owned(),
                        RawJson::null(),
                        0,
                    );
                }
                1 => {
                    let _ = self
                        .core
                        .request(self.now, "echo".to_owned(), RawJson::null(), None);
                }
                2 => self.core.handle_timeout(self.now),
                _ => {}
            }
            if leader {
                self.core.handle_tab_frame(self.now, "F1", input);
            } else {
                self.core.handle_frame(self.now, self.attempt, input);
            }
            self.drain();
        }
    }

    fn run(name: &str, seconds: u64, seed: u64, mut body: impl FnMut(&mut Rng) -> String) -> u64 {
        let mut rng = Rng(seed | 1);
        let end = Instant::now() + Duration::from_secs(seconds);
        let mut count = 0u64;
        while Instant::now() < end {
            for _ in 0..256 {
                let mut input = String::new();
                let result = catch_unwind(AssertUnwindSafe(|| {
                    input = body(&mut rng);
                }));
                if result.is_err() {
                    eprintln!(
                        "fuzz {name}: panic after {count} inputs (seed {seed}); last input: {input:?}"
                    );
                    std::process::exit(1);
                }
                count += 1;
            }
        }
        println!("fuzz {name}: {count} inputs in {seconds} s, no panic");
        count
    }

    pub fn main() {
        let mut seconds = 10;
        let mut seed = 0x5eed_cafe_f00d_u64;
        let mut targets = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds)
                }
                "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(seed),
                other => targets.push(other.to_owned()),
            }
        }
        if targets.is_empty() {
            targets = ["envelope", "socketio", "tabs", "core", "leader"]
                .map(String::from)
                .to_vec();
        }
        // A caught panic is reported once by `run`, not by the default hook too.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
        let tab_seeds: Vec<String> = [
            TabBody::Up { frame: ENVELOPE_CLIENT[3].to_owned() },
            TabBody::Down { frame: ENVELOPE_SERVER[3].to_owned(), term: 3 },
            TabBody::Leader { term: 3 },
            TabBody::Who { term: 2 },
            TabBody::Bye { term: 3 },
            TabBody::Clear { id: "clear:a1:1".to_owned(), at: 1_700_000_000_000 },
            TabBody::Cleared { id: "clear:a1:1".to_owned(), dropped: 2, tabs: vec!["c3".to_owned()] },
            TabBody::Claim { term: 9 },
            TabBody::Broadcast { topic: "note".to_owned(), data: RawJson::parse("[1,{\"a\":2}]").expect("JSON") },
        ]
        .into_iter()
        .map(|body| TabMessage { ns: "syncline:k".to_owned(), from: "a1".to_owned(), to: Some("b2".to_owned()), body }.encode().expect("encodes"))
        .chain([r#"{"syncline":2,"ns":"syncline:k","from":"a","k":"state","term":3,"s":{"state":"open","online":true,"attempt":0,"reconnects":1,"rttMs":3,"retryAt":null,"lastError":{"kind":"x","message":"y"},"session":"s","outbox":{"depth":1,"inFlight":0,"oldestCreatedAt":5,"deadLetters":0,"storage":"indexeddb","lastError":null,"breaker":"closed"}}}"#.to_owned()])
        .collect();
        let tab_seeds: Vec<&str> = tab_seeds.iter().map(String::as_str).collect();
        let mut total = 0;
        for target in &targets {
            total += match target.as_str() {
                "envelope" => run("envelope", seconds, seed, |rng| {
                    let seeds = if rng.below(2) == 0 {
                        ENVELOPE_SERVER
                    } else {
                        ENVELOPE_CLIENT
                    };
                    let input = mutate(rng, seeds);
                    envelope(&input);
                    input
                }),
                "socketio" => run("socketio", seconds, seed, |rng| {
                    let input = mutate(rng, SOCKETIO);
                    socketio(&input);
                    input
                }),
                "tabs" => run("tabs", seconds, seed, |rng| {
                    let input = mutate(rng, &tab_seeds);
                    tabs(&input);
                    input
                }),
                "core" => {
                    let mut clients = [Client::new(false, None), Client::new(true, None)];
                    run("core", seconds, seed, |rng| {
                        let which = rng.below(2);
                        let input = mutate(
                            rng,
                            if which == 0 {
                                ENVELOPE_SERVER
                            } else {
                                SOCKETIO
                            },
                        );
                        clients[which].feed(rng, &input, false);
                        input
                    })
                }
                "leader" => {
                    let mut leaders = [
                        Client::new(false, Some(Role::Leader)),
                        Client::new(true, Some(Role::Leader)),
                    ];
                    run("leader", seconds, seed, |rng| {
                        let which = rng.below(2);
                        let input = mutate(rng, ENVELOPE_CLIENT);
                        leaders[which].feed(rng, &input, true);
                        input
                    })
                }
                other => {
                    eprintln!("unknown target {other:?}");
                    std::process::exit(2);
                }
            };
        }
        println!(
            "fuzz: {total} inputs over {} target(s), no panic",
            targets.len()
        );
    }
}
