//! Logout across tabs and adoption between tabs, simulated natively with injected time:
//! a clear asked in a follower empties the leader's memory before it is done, a tab that does
//! not answer is named after the timeout, a tab that missed the logout obeys the stored mark,
//! and an entry adopted from another tab keeps its priority and creation time.
#![cfg(not(target_arch = "wasm32"))]

mod sim;
mod tabnet;

use sim::Sim;
use syncline::core::tabs::TabAction;
use syncline::core::tabs::clear::{CLEAR_TIMEOUT_MS, ClearOutcome};
use syncline::core::{Event, OutboxEntry, StoreOp};
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage};
use tabnet::Net;

fn publish(s: &mut Sim, n: u8, priority: i32) -> String {
    let id = s.core.next_publish_id(s.now, [n; 10]);
    // Channels of their own: priority orders across channels (a channel keeps its order).
    let channel = format!("c{n}");
    s.core
        .publish_durable(
            s.now,
            id.clone(),
            channel,
            "e".into(),
            RawJson::null(),
            priority,
        )
        .expect("accepted");
    s.pump();
    id
}

fn clear_done(s: &mut Sim) -> Vec<ClearOutcome> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ClearDone(outcome) => Some(outcome),
            _ => None,
        })
        .collect()
}

#[test]
fn a_clear_asked_in_a_follower_empties_the_leader_before_it_is_done() {
    let mut net = Net::new(1);
    net.leader.socket_closes(1006);
    net.route();
    for n in 0..3 {
        publish(&mut net.leader, n, 0);
        publish(net.follower(0), 10 + n, 0);
        net.route();
    }
    assert_eq!(
        net.leader.core.snapshot().outbox.depth,
        6,
        "the leader holds all six"
    );
    let f = net.follower(0);
    let now = f.now;
    assert_eq!(f.core.clear_all_tabs(now, "c1".into()), 3);
    f.pump();
    assert!(
        f.store_ops.contains(&StoreOp::Clear),
        "the shared database is emptied"
    );
    assert!(
        f.tab_actions
            .iter()
            .any(|a| matches!(a, TabAction::SaveClearMark(_))),
        "the logout is recorded for tabs that do not hear it"
    );
    assert!(
        clear_done(net.follower(0)).is_empty(),
        "not done before the leader obeyed"
    );
    net.route();
    assert_eq!(
        clear_done(net.follower(0)),
        vec![ClearOutcome {
            id: "c1".into(),
            dropped: 6,
            missing: vec![]
        }],
        "each entry counted once"
    );
    assert_eq!(net.leader.core.snapshot().outbox.depth, 0);
    assert!(
        !net.leader.store_ops.contains(&StoreOp::Clear),
        "the obeying tab deletes its own records, not what was written after the logout"
    );
    // The relay comes back: nothing cleared is sent.
    net.upstream.clear();
    net.leader.advance(2_000);
    net.leader.socket_opens();
    net.leader.welcome();
    net.route();
    assert!(
        !net.upstream
            .iter()
            .any(|m| matches!(m, ClientMessage::Publish { .. })),
        "{:?}",
        net.upstream
    );
}

#[test]
fn a_tab_that_does_not_answer_is_named_after_the_timeout() {
    let mut net = Net::new(1);
    let f = net.follower(0);
    let now = f.now;
    f.core.clear_all_tabs(now, "c2".into());
    f.pump();
    // The bus does not carry it (the leader is frozen): the follower gives up in time.
    f.tab_actions.clear();
    f.advance(CLEAR_TIMEOUT_MS - 1);
    assert!(clear_done(f).is_empty());
    f.advance(1);
    assert_eq!(
        clear_done(f),
        vec![ClearOutcome {
            id: "c2".into(),
            dropped: 0,
            missing: vec!["L".into()]
        }]
    );
}

#[test]
fn a_tab_that_missed_the_logout_obeys_the_mark_and_a_leader_refuses_what_was_made_before() {
    let mut s = Sim::with_storage(tabnet::config("A"));
    let before = publish(&mut s, 1, 0);
    s.advance(10);
    let at = s.core.wall(s.now);
    s.advance(10);
    let after = publish(&mut s, 2, 0);
    let now = s.now;
    s.core.handle_clear_mark(now, at);
    s.pump();
    assert_eq!(
        s.core.snapshot().outbox.depth,
        1,
        "only the entry made after the logout"
    );
    assert!(s.store_ops.contains(&StoreOp::Delete(before.clone())));
    assert!(!s.store_ops.contains(&StoreOp::Delete(after)));
    // Storage read later still holds an old entry (a tab wrote it back): it is not sent.
    let old = OutboxEntry {
        id: "0190a0a0-0000-7000-8000-000000000000".into(),
        channel: "c".into(),
        event: "e".into(),
        data: RawJson::null(),
        created_at: at - 5,
        priority: 0,
    };
    let now = s.now;
    s.core.handle_storage_loaded(now, vec![old], vec![], 0);
    s.pump();
    assert_eq!(s.core.snapshot().outbox.depth, 1);

    // A leader that obeyed a logout refuses a follower's entry made before it and reminds it.
    let mut net = Net::new(1);
    net.leader.socket_closes(1006);
    net.route();
    let f = net.follower(0);
    f.advance(5);
    let stale = publish(f, 3, 0);
    let mark = f.core.wall(f.now) + 1;
    let now = net.leader.now;
    net.leader.core.handle_clear_mark(now, mark);
    net.leader.pump();
    assert_eq!(net.leader.core.snapshot().outbox.depth, 0);
    net.route();
    assert_eq!(net.leader.core.snapshot().outbox.depth, 0, "not adopted");
    assert_eq!(
        net.follower(0).core.snapshot().outbox.depth,
        0,
        "the follower was reminded and obeyed ({stale})"
    );
}

#[test]
fn an_adopted_entry_keeps_its_priority_and_creation_time() {
    let mut net = Net::new(1);
    net.leader.socket_closes(1006);
    net.route();
    // The leader's own entry, older and of priority 0.
    publish(&mut net.leader, 8, 0);
    net.follower(0).advance(5);
    let f = net.follower(0);
    let made = f.core.wall(f.now);
    let id = publish(f, 7, 5);
    // The leader adopts it ten seconds later by its own clock.
    net.leader.advance(10_000);
    net.route();
    assert_eq!(net.leader.core.snapshot().outbox.depth, 2);
    // It goes before the leader's own older entry of a lower priority.
    net.upstream.clear();
    while net.leader.socket.is_none() {
        net.leader.advance(100);
    }
    net.leader.socket_opens();
    net.leader.welcome();
    net.route();
    let first = net.upstream.iter().find_map(|m| match m {
        ClientMessage::Publish { id, .. } => Some(id.clone()),
        _ => None,
    });
    assert_eq!(first.as_deref(), Some(id.as_str()), "priority 5 first");
    // Refused for good, it is a dead letter with its priority and time.
    net.leader.receive(ServerMessage::Nack {
        id: id.clone(),
        reason: "no".into(),
        retryable: false,
    });
    let letter = net
        .leader
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::DeadLetter(letter) => Some(letter),
            _ => None,
        })
        .expect("a dead letter");
    assert_eq!((letter.entry.priority, letter.entry.created_at), (5, made));
}
