//! The durable outbox through the core, with injected time: write-ahead, group commit,
//! window, per-channel order, priorities, retries, retention, dead letters, reloads,
//! degraded storage — and a property test against a simulated server that loses acks and
//! connections.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;
use sim::Sim;
use syncline::core::{DeadLetter, Event, OutboxEntry, RequestError, StorageState, StoreOp};
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage};

const DAY: u64 = 24 * 3_600_000;

fn publish(s: &mut Sim, channel: &str, priority: i32) -> String {
    let id = s.core.next_publish_id(s.now, [7; 10]);
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            channel.into(),
            "e".into(),
            RawJson::null(),
            priority,
        )
        .expect("accepted");
    s.pump();
    id
}

fn sent_publishes(s: &mut Sim) -> Vec<String> {
    s.take_sent()
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Publish { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

fn ack(s: &mut Sim, ids: &[String]) {
    let frame =
        syncline::protocol::envelope::encode_batch(ids.iter().enumerate().map(|(n, id)| {
            ServerMessage::Ack {
                id: id.clone(),
                seq: n as u64 + 1,
            }
            .encode()
        }));
    s.receive_frame(&frame);
}

fn config(window: usize) -> syncline::core::Config {
    let mut c = Sim::config();
    c.outbox.window = window;
    c
}

#[test]
fn offline_publish_is_stored_then_sent_and_deleted_on_ack() {
    let mut s = Sim::with_storage(config(64));
    s.auto_store = false;
    let id = publish(&mut s, "match", 0);
    assert!(matches!(s.store_ops.as_slice(), [StoreOp::Put(e)] if e.id == id));
    assert!(
        !s.events
            .iter()
            .any(|e| matches!(e, Event::PublishQueued { .. })),
        "not before the write commits"
    );
    s.core.handle_stored(s.now, std::slice::from_ref(&id));
    s.pump();
    assert!(
        s.take_events()
            .contains(&Event::PublishQueued { id: id.clone() })
    );
    assert_eq!(s.core.snapshot().outbox.depth, 1);

    s.open();
    assert_eq!(sent_publishes(&mut s), vec![id.clone()]);
    assert_eq!(s.core.snapshot().outbox.in_flight, 1);
    s.store_ops.clear();
    ack(&mut s, std::slice::from_ref(&id));
    assert_eq!(s.store_ops, vec![StoreOp::Delete(id.clone())]);
    assert!(
        s.take_events()
            .contains(&Event::Delivered { id, seq: Some(1) })
    );
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn publishes_of_one_tick_share_one_store_action_and_acks_are_deleted_together() {
    let mut s = Sim::with_storage(config(64));
    s.open();
    s.take_sent();
    let before = s.store_ops.len();
    // The core emits one Store action per input; the driver commits all actions of a tick in
    // one transaction. Here: the acks of one frame are one action with 3 deletes.
    let ids: Vec<String> = (0..3).map(|_| publish(&mut s, "c", 0)).collect();
    assert_eq!(s.store_ops.len() - before, 3);
    s.store_ops.clear();
    let mut actions = 0;
    s.core.handle_frame(
        s.now,
        s.socket.unwrap_or(0),
        &syncline::protocol::envelope::encode_batch(ids.iter().map(|id| {
            ServerMessage::Ack {
                id: id.clone(),
                seq: 1,
            }
            .encode()
        })),
    );
    while let Some(action) = s.core.poll_action() {
        if let syncline::core::Action::Store(ops) = action {
            actions += 1;
            assert_eq!(ops.len(), 3);
        }
    }
    assert_eq!(actions, 1);
}

#[test]
fn published_while_open_settles_on_the_ack_or_as_queued_when_the_connection_drops() {
    let mut s = Sim::with_storage(config(64));
    s.open();
    let acked = publish(&mut s, "c", 0);
    let dropped = publish(&mut s, "c", 0);
    assert!(
        !s.events
            .iter()
            .any(|e| matches!(e, Event::PublishQueued { .. })),
        "while open, the promise waits for the ack"
    );
    s.take_sent();
    ack(&mut s, std::slice::from_ref(&acked));
    assert!(s.take_events().contains(&Event::PublishDone {
        id: acked,
        result: Ok(Some(1))
    }));
    s.socket_closes(1006);
    assert!(s.take_events().contains(&Event::PublishQueued {
        id: dropped.clone()
    }));
    assert_eq!(s.core.snapshot().outbox.in_flight, 0);
    assert_eq!(s.core.snapshot().outbox.depth, 1);
    // Sent again on the next connection, first thing.
    s.advance(2_000);
    s.socket_opens();
    s.welcome();
    assert_eq!(sent_publishes(&mut s), vec![dropped]);
}

#[test]
fn the_window_bounds_what_is_in_flight() {
    let mut s = Sim::with_storage(config(64));
    let ids: Vec<String> = (0..200).map(|_| publish(&mut s, "c", 0)).collect();
    s.open();
    let first = sent_publishes(&mut s);
    assert_eq!(first, ids[..64].to_vec());
    ack(&mut s, &ids[..10]);
    assert_eq!(
        sent_publishes(&mut s),
        ids[64..74].to_vec(),
        "each ack frees one slot"
    );
    assert_eq!(s.core.snapshot().outbox.in_flight, 64);
    let mut acked = 10;
    while acked < 200 {
        let chunk: Vec<String> = ids[acked..(acked + 64).min(200)].to_vec();
        acked += chunk.len();
        ack(&mut s, &chunk);
    }
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn channels_keep_their_order_and_priority_picks_among_channels() {
    let mut s = Sim::with_storage(config(1));
    let a1 = publish(&mut s, "a", 0);
    let a2 = publish(&mut s, "a", 9);
    let b1 = publish(&mut s, "b", 5);
    let c1 = publish(&mut s, "c", 0);
    s.open();
    let mut order = Vec::new();
    for _ in 0..4 {
        let sent = sent_publishes(&mut s);
        assert_eq!(sent.len(), 1, "window of one");
        order.extend(sent.clone());
        ack(&mut s, &sent);
    }
    // b1 (priority 5) first; a2's priority 9 cannot jump ahead of a1 on its own channel;
    // then a1 and c1 tie at 0 and the older goes first.
    assert_eq!(order, vec![b1, a1, a2, c1]);
}

#[test]
fn ack_timeout_retries_with_backoff_and_holds_back_that_channel_only() {
    let mut c = config(64);
    c.outbox.ack_timeout_ms = 1_000;
    let mut s = Sim::with_storage(c);
    s.open();
    s.take_sent();
    let x1 = publish(&mut s, "x", 0);
    let x2 = publish(&mut s, "x", 0);
    assert_eq!(sent_publishes(&mut s), vec![x1.clone(), x2.clone()]);
    ack(&mut s, std::slice::from_ref(&x2));
    s.advance(1_000);
    let retry_at = s.core.poll_timeout().expect("retry scheduled");
    let wait = retry_at - s.now;
    assert!(
        (500..=1_500).contains(&wait),
        "first retry after 1 s ±50 %: {wait}"
    );
    // Meanwhile: x3 on the same channel waits behind x1; y1 elsewhere goes at once.
    let x3 = publish(&mut s, "x", 0);
    let y1 = publish(&mut s, "y", 0);
    assert_eq!(sent_publishes(&mut s), vec![y1.clone()]);
    ack(&mut s, &[y1]);
    s.advance(wait);
    assert_eq!(sent_publishes(&mut s), vec![x1.clone(), x3]);
    // Second timeout of x1: the wait doubles.
    s.advance(1_000);
    let wait = s.core.poll_timeout().expect("retry") - s.now;
    assert!(
        (1_000..=3_000).contains(&wait),
        "second retry after 2 s ±50 %: {wait}"
    );
}

#[test]
fn nacks_retry_or_bury_with_an_event() {
    let mut s = Sim::with_storage(config(64));
    s.open();
    let soft = publish(&mut s, "c", 0);
    let hard = publish(&mut s, "d", 0);
    s.take_sent();
    s.store_ops.clear();
    s.receive(ServerMessage::Nack {
        id: soft.clone(),
        reason: "busy".into(),
        retryable: true,
    });
    s.receive(ServerMessage::Nack {
        id: hard.clone(),
        reason: "forbidden".into(),
        retryable: false,
    });
    let events = s.take_events();
    assert!(
        events.contains(&Event::PublishQueued { id: soft.clone() }),
        "retryable: stays, promise says queued"
    );
    assert!(events.contains(&Event::PublishDone {
        id: hard.clone(),
        result: Err(RequestError::Rejected {
            reason: "forbidden".into(),
            retryable: false
        })
    }));
    let letter = events
        .iter()
        .find_map(|e| match e {
            Event::DeadLetter(l) => Some(l.clone()),
            _ => None,
        })
        .expect("dead letter event");
    assert_eq!(
        (letter.entry.id.as_str(), letter.reason.as_str()),
        (hard.as_str(), "forbidden")
    );
    assert_eq!(
        s.store_ops,
        vec![StoreOp::Delete(hard.clone()), StoreOp::PutDead(letter)]
    );
    let snap = s.core.snapshot();
    assert_eq!((snap.outbox.depth, snap.outbox.dead_letters), (1, 1));
    assert_eq!(
        snap.outbox.last_error.as_ref().map(|e| e.kind),
        Some("rejected")
    );
    s.advance(1_500);
    assert_eq!(sent_publishes(&mut s), vec![soft]);

    // Retry puts it back (stored again), discard forgets it.
    s.store_ops.clear();
    assert_eq!(s.core.retry_dead_letters(s.now, None), 1);
    s.pump();
    assert!(
        matches!(s.store_ops.as_slice(), [StoreOp::DeleteDead(_), StoreOp::Put(e)] if e.id == hard)
    );
    assert_eq!(sent_publishes(&mut s), vec![hard.clone()]);
    s.receive(ServerMessage::Nack {
        id: hard.clone(),
        reason: "still no".into(),
        retryable: false,
    });
    assert_eq!(s.core.discard_dead_letters(s.now, Some(&[hard.clone()])), 1);
    assert_eq!(s.core.snapshot().outbox.dead_letters, 0);
}

#[test]
fn entries_past_their_retention_become_dead_letters_on_time() {
    let mut s = Sim::with_storage(config(64));
    let id = publish(&mut s, "c", 0);
    s.advance(7 * DAY - 1);
    assert_eq!(s.core.snapshot().outbox.depth, 1);
    s.advance(1);
    assert_eq!(s.core.snapshot().outbox.depth, 0);
    assert!(
        s.take_events().iter().any(
            |e| matches!(e, Event::DeadLetter(l) if l.entry.id == id && l.reason == "expired")
        )
    );
}

#[test]
fn a_reload_drains_stored_entries_first_and_keeps_channel_order() {
    let mut s = Sim::new(config(64));
    s.core.set_wall_clock(s.now, 1_700_000_000_000);
    let old = |n: u8| OutboxEntry {
        id: format!("0000000{n}-0000-7000-8000-000000000000"),
        channel: "c".into(),
        event: "e".into(),
        data: RawJson::null(),
        created_at: 1_700_000_000_000 - DAY,
        priority: 0,
    };
    // Published before storage finished loading: must wait for the older stored ones.
    let fresh = publish(&mut s, "c", 0);
    s.open();
    assert!(
        sent_publishes(&mut s).is_empty(),
        "nothing is sent before the stored entries are known"
    );
    let dead = DeadLetter {
        entry: old(9),
        reason: "forbidden".into(),
        failed_at: 1,
    };
    s.core
        .handle_storage_loaded(s.now, vec![old(1), old(2)], vec![dead], 0);
    s.pump();
    let sent = sent_publishes(&mut s);
    assert_eq!(sent, vec![old(1).id, old(2).id, fresh]);
    assert_eq!(s.core.snapshot().outbox.dead_letters, 1);
    assert_eq!(s.core.snapshot().outbox.storage, StorageState::Durable);
}

#[test]
fn unavailable_storage_degrades_to_memory_and_says_so() {
    let mut s = Sim::new(config(64));
    s.core
        .handle_storage_unavailable(s.now, "indexedDB is not available".into());
    s.pump();
    assert_eq!(s.take_error_kinds(), vec!["storage"]);
    let id = publish(&mut s, "c", 0);
    let events = s.take_events();
    assert!(
        events.contains(&Event::PublishHeld { id: id.clone() }),
        "held in memory, not queued on disk: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::PublishQueued { .. }))
    );
    assert!(
        s.store_ops.is_empty(),
        "nothing asked of a storage that is not there"
    );
    let snap = s.core.snapshot();
    assert_eq!(snap.outbox.storage, StorageState::Memory);
    assert_eq!(
        snap.outbox.last_error.as_ref().map(|e| e.kind),
        Some("storage")
    );
    s.open();
    assert_eq!(sent_publishes(&mut s), vec![id.clone()]);
    ack(&mut s, &[id]);
    assert_eq!(s.core.snapshot().outbox.depth, 0);
}

#[test]
fn a_failed_write_is_reported_and_the_entry_kept_in_memory() {
    let mut s = Sim::with_storage(config(64));
    s.auto_store = false;
    let id = publish(&mut s, "c", 0);
    s.core.handle_store_failed(
        s.now,
        std::slice::from_ref(&id),
        "QuotaExceededError".into(),
    );
    s.pump();
    let events = s.take_events();
    assert!(
        events.contains(&Event::PublishHeld { id: id.clone() }),
        "its write failed: held in memory, not queued on disk: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::PublishQueued { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Error(err) if err.kind() == "storage"))
    );
    assert_eq!(s.core.snapshot().outbox.storage, StorageState::Memory);
    s.open();
    assert_eq!(sent_publishes(&mut s), vec![id]);
}

#[test]
fn the_outbox_is_bounded_and_refuses_with_the_entry_handed_back() {
    let mut c = config(64);
    c.outbox.max_entries = 2;
    let mut s = Sim::with_storage(c);
    publish(&mut s, "c", 0);
    publish(&mut s, "c", 0);
    let id = s.core.next_publish_id(s.now, [1; 10]);
    let refused = s
        .core
        .publish_durable(
            s.now,
            id.clone(),
            "c".into(),
            "e".into(),
            RawJson::null(),
            0,
        )
        .expect_err("full");
    assert_eq!(refused.kind(), "buffer_full");
    assert_eq!(refused.into_message().id, id);
}

/// What a server does to each frame in the property test.
#[derive(Debug, Clone)]
enum Step {
    Publish { channel: u8 },
    Deliver { drop_ack: bool },
    Disconnect,
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..3).prop_map(|channel| Step::Publish { channel }),
        4 => any::<bool>().prop_map(|drop_ack| Step::Deliver { drop_ack }),
        1 => Just(Step::Disconnect),
        1 => (0u64..15_000).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A server that stores publishes once per id (like the relay) but loses acks and
    /// connections at random: in the end every publish is stored exactly once, in publish
    /// order per channel, and the outbox is empty.
    #[test]
    fn nothing_is_lost_or_reordered_when_acks_and_connections_are(steps in proptest::collection::vec(step(), 1..80), window in 1usize..8) {
        let mut c = config(window);
        c.outbox.ack_timeout_ms = 2_000;
        let mut s = Sim::with_storage(c);
        s.open();
        let mut published: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut channel_of: HashMap<String, String> = HashMap::new();
        let mut inbox: Vec<ClientMessage> = Vec::new();

        let serve = |s: &mut Sim, inbox: &mut Vec<ClientMessage>, stored: &mut BTreeMap<String, Vec<String>>, seen: &mut HashSet<String>, drop_ack: bool| {
            let mut acks = Vec::new();
            for m in inbox.drain(..) {
                if let ClientMessage::Publish { id, channel, .. } = m {
                    if seen.insert(id.clone()) {
                        stored.entry(channel).or_default().push(id.clone());
                    }
                    if !drop_ack { acks.push(id); }
                }
            }
            if !acks.is_empty() && s.socket.is_some() && s.core.is_open() {
                ack(s, &acks);
            }
        };

        for step in steps {
            match step {
                Step::Publish { channel } => {
                    let ch = format!("ch{channel}");
                    let id = publish(&mut s, &ch, 0);
                    channel_of.insert(id.clone(), ch.clone());
                    published.entry(ch).or_default().push(id);
                }
                Step::Deliver { drop_ack } => {
                    inbox.extend(s.take_sent());
                    serve(&mut s, &mut inbox, &mut stored, &mut seen, drop_ack);
                }
                Step::Disconnect => {
                    // What was on the wire reaches the server; the acks are lost with the socket.
                    inbox.extend(s.take_sent());
                    serve(&mut s, &mut inbox, &mut stored, &mut seen, true);
                    if s.socket.is_some() { s.socket_closes(1006); }
                }
                Step::Wait(ms) => {
                    s.advance(ms);
                    if s.socket.is_some() && !s.core.is_open() { s.socket_opens(); s.welcome(); }
                }
            }
        }
        // Heal: reconnect and serve until the outbox is empty.
        for _ in 0..500 {
            if s.core.snapshot().outbox.depth == 0 { break; }
            if s.socket.is_none() { s.advance(60_000); }
            if s.socket.is_some() && !s.core.is_open() { s.socket_opens(); s.welcome(); }
            inbox.extend(s.take_sent());
            serve(&mut s, &mut inbox, &mut stored, &mut seen, false);
            s.advance(2_500);
        }
        prop_assert_eq!(s.core.snapshot().outbox.depth, 0);
        prop_assert_eq!(&stored, &published, "stored once each, in publish order per channel");
        prop_assert!(!s.events.iter().any(|e| matches!(e, Event::DeadLetter(_))));
    }
}

#[test]
fn dead_letters_are_bounded_and_the_oldest_leaves_with_an_event() {
    let mut c = config(64);
    c.outbox.max_dead_letters = 2;
    let mut s = Sim::with_storage(c);
    s.open();
    let ids: Vec<String> = (0..3).map(|_| publish(&mut s, "c", 0)).collect();
    s.take_sent();
    s.store_ops.clear();
    s.take_events();
    for id in &ids {
        s.receive(ServerMessage::Nack {
            id: id.clone(),
            reason: "forbidden".into(),
            retryable: false,
        });
    }
    let kept: Vec<String> = s.core.dead_letters().map(|l| l.entry.id.clone()).collect();
    assert_eq!(kept, ids[1..].to_vec(), "the oldest was dropped");
    assert!(
        s.store_ops.contains(&StoreOp::DeleteDead(ids[0].clone())),
        "from storage too"
    );
    let errors = s.take_error_kinds();
    assert_eq!(
        errors
            .iter()
            .filter(|k| **k == "dead_letter_evicted")
            .count(),
        1,
        "{errors:?}"
    );
    assert_eq!(s.core.snapshot().outbox.dead_letters, 2);
}
