//! Per-channel order through retries, with injected time: a property test against simulated
//! servers that refuse publishes for a while (`nack` with `retryable: true`, as the relay
//! does when rate-limited or its storage fails), lose acks and connections.
//!
//! Two servers, two ways of keeping order:
//! - the relay refuses, after a retryable refusal on a connection, every later publish of that
//!   channel until the refused one comes again, so the client may keep several entries of a
//!   channel in flight;
//! - a server that gives no such promise (a Socket.IO or JSON server) is sent one entry of a
//!   channel at a time (`serial_channels`).
//!
//! Either way the server stores each publish once, in publish order per channel.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;
use sim::Sim;
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage, encode_batch};

#[derive(Debug, Clone)]
enum Step {
    Publish {
        channel: u8,
    },
    /// The server reads what was sent; it refuses the first new publish when `refuse`.
    Deliver {
        refuse: bool,
        drop_acks: bool,
    },
    Disconnect,
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..3).prop_map(|channel| Step::Publish { channel }),
        4 => (any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(refuse, drop_acks)| Step::Deliver { refuse, drop_acks }),
        1 => Just(Step::Disconnect),
        1 => (0u64..15_000).prop_map(Step::Wait),
    ]
}

/// A server storing each publish id once, per channel in the order it stores them.
#[derive(Default)]
struct Server {
    /// Refuses later publishes of a channel after refusing one (the relay's promise).
    in_order: bool,
    stored: BTreeMap<String, Vec<String>>,
    seen: HashSet<String>,
    /// Per channel, the refused publish that must come again first (this connection).
    blocked: HashMap<String, String>,
}

impl Server {
    /// Reads the client's messages and answers them in order.
    fn serve(&mut self, s: &mut Sim, messages: Vec<ClientMessage>, refuse: bool, drop: bool) {
        let mut refuse = refuse;
        let mut answers = Vec::new();
        for m in messages {
            let ClientMessage::Publish { id, channel, .. } = m else {
                continue;
            };
            let held = self.blocked.get(&channel).is_some_and(|first| *first != id);
            if held || (refuse && !self.seen.contains(&id)) {
                refuse = false;
                if self.in_order && !held {
                    self.blocked.insert(channel.clone(), id.clone());
                }
                answers.push(ServerMessage::Nack {
                    id,
                    reason: "rate_limited".into(),
                    retryable: true,
                });
                continue;
            }
            if self.blocked.get(&channel) == Some(&id) {
                self.blocked.remove(&channel);
            }
            if self.seen.insert(id.clone()) {
                self.stored.entry(channel).or_default().push(id.clone());
            }
            answers.push(ServerMessage::Ack { id, seq: 1 });
        }
        if !answers.is_empty() && !drop && s.socket.is_some() && s.core.is_open() {
            s.receive_frame(&encode_batch(answers.iter().map(ServerMessage::encode)));
        }
    }

    fn disconnect(&mut self) {
        self.blocked.clear();
    }
}

fn publish(s: &mut Sim, channel: &str) -> String {
    let id = s.core.next_publish_id(s.now, [7; 10]);
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            channel.into(),
            "e".into(),
            RawJson::null(),
            0,
        )
        .expect("accepted");
    s.pump();
    id
}

/// A new socket was asked for: what the old one carried reached the server (its answers are
/// lost with it), then the new connection opens.
fn reconnect(s: &mut Sim, server: &mut Server) {
    if s.socket.is_some() && !s.core.is_open() {
        let sent = s.take_sent();
        server.serve(s, sent, false, true);
        server.disconnect();
        s.socket_opens();
        s.welcome();
    }
}

fn run(steps: Vec<Step>, window: usize, in_order: bool) -> Result<(), TestCaseError> {
    let mut c = Sim::config();
    c.outbox.window = window;
    c.outbox.ack_timeout_ms = 2_000;
    c.outbox.serial_channels = !in_order;
    let mut s = Sim::with_storage(c);
    s.open();
    let mut server = Server {
        in_order,
        ..Server::default()
    };
    let mut published: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for step in steps {
        match step {
            Step::Publish { channel } => {
                let ch = format!("ch{channel}");
                let id = publish(&mut s, &ch);
                published.entry(ch).or_default().push(id);
            }
            Step::Deliver { refuse, drop_acks } => {
                let sent = s.take_sent();
                server.serve(&mut s, sent, refuse, drop_acks);
            }
            Step::Disconnect => {
                let sent = s.take_sent();
                server.serve(&mut s, sent, false, true);
                server.disconnect();
                if s.socket.is_some() {
                    s.socket_closes(1006);
                }
            }
            Step::Wait(ms) => {
                s.advance(ms);
                reconnect(&mut s, &mut server);
            }
        }
    }
    for _ in 0..500 {
        if s.core.snapshot().outbox.depth == 0 {
            break;
        }
        if s.socket.is_none() {
            s.advance(60_000);
        }
        reconnect(&mut s, &mut server);
        let sent = s.take_sent();
        server.serve(&mut s, sent, false, false);
        s.advance(2_500);
    }
    prop_assert_eq!(s.core.snapshot().outbox.depth, 0);
    prop_assert_eq!(
        &server.stored,
        &published,
        "stored once each, in publish order per channel"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Several entries of a channel in flight at once, against the relay's promise.
    #[test]
    fn retries_keep_each_channels_order_on_the_relay(steps in prop::collection::vec(step(), 1..80), window in 1usize..8) {
        run(steps, window, true)?;
    }

    /// One entry of a channel at a time, against a server that promises nothing of order.
    #[test]
    fn retries_keep_each_channels_order_one_at_a_time(steps in prop::collection::vec(step(), 1..80), window in 1usize..8) {
        run(steps, window, false)?;
    }
}

/// Without either way, a refused publish is overtaken by the next one of its channel: the
/// case the two ways above exist for.
#[test]
fn a_server_without_the_promise_reorders_a_pipelined_channel() {
    let mut s = Sim::with_storage(Sim::config());
    s.open();
    let mut server = Server::default();
    let first = publish(&mut s, "c");
    let second = publish(&mut s, "c");
    let sent = s.take_sent();
    server.serve(&mut s, sent, true, false);
    s.advance(60_000);
    let sent = s.take_sent();
    server.serve(&mut s, sent, false, false);
    assert_eq!(server.stored.get("c"), Some(&vec![second, first]));
}
