//! Tabs sharing one connection, simulated natively: a leader core with a scripted server, and
//! follower cores whose link goes through an in-memory tab bus to the leader's hub.
#![cfg(not(target_arch = "wasm32"))]

mod sim;
mod tabnet;

use syncline::core::tabs::{TabAction, TabBody, TabMessage};
use syncline::core::{ConnectionState, Event, Role, StoreOp};
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage, decode_client_frame};
use tabnet::{Net, deliveries, event};

#[test]
fn followers_link_to_the_leader_and_show_its_state() {
    let mut net = Net::new(2);
    assert_eq!(net.leader.core.snapshot().tabs, 2);
    assert_eq!(net.leader.core.snapshot().role, Role::Leader);
    for n in 0..2 {
        let snap = net.follower(n).core.snapshot().clone();
        assert_eq!(
            (snap.role, snap.state),
            (Role::Follower, ConnectionState::Open)
        );
        assert_eq!(
            snap.session.as_deref(),
            Some("s1"),
            "the leader's session, not the link's"
        );
        assert!(net.follower(n).opens.len() == 1);
    }
    // The leader loses the server: every tab shows it.
    net.leader.socket_closes(1006);
    net.route();
    for n in 0..2 {
        assert_eq!(
            net.follower(n).core.snapshot().state,
            ConnectionState::Waiting
        );
    }
}

#[test]
fn a_follower_subscription_goes_through_the_leader_and_events_come_back() {
    let mut net = Net::new(2);
    net.upstream.clear();
    let now = net.follower(0).now;
    net.follower(0).core.subscribe(now, "scores", None, 0, None);
    net.follower(0).pump();
    net.route();
    assert_eq!(
        net.upstream,
        vec![ClientMessage::Subscribe {
            channel: "scores".into(),
            since: None
        }],
        "the leader subscribes its own connection"
    );
    net.leader.receive(ServerMessage::Subscribed {
        since: None,
        channel: "scores".into(),
        seq: 3,
    });
    net.leader.receive(event("scores", 4));
    net.route();
    assert_eq!(deliveries(net.follower(0)), vec![4]);
    assert!(
        deliveries(net.follower(1)).is_empty(),
        "not subscribed there"
    );
    assert!(
        deliveries(&mut net.leader).is_empty(),
        "nor in the leader tab"
    );
    // The last tab leaving the channel unsubscribes the leader's connection.
    net.upstream.clear();
    let tab = net.followers[0].0.clone();
    let now = net.leader.now;
    let bye = TabMessage {
        ns: "syncline:default".into(),
        from: tab,
        to: None,
        body: TabBody::Bye { term: 0 },
    };
    net.leader.core.handle_bus_message(now, bye);
    net.leader.pump();
    net.route();
    assert_eq!(
        net.upstream,
        vec![ClientMessage::Unsubscribe {
            channel: "scores".into()
        }]
    );
}

#[test]
fn a_follower_durable_publish_is_drained_by_the_leader_and_settled_in_the_follower() {
    let mut net = Net::new(1);
    let f = net.follower(0);
    let id = f.core.next_publish_id(f.now, [3; 10]);
    f.core
        .publish_durable(
            f.now,
            id.clone(),
            "c".into(),
            "e".into(),
            RawJson::null(),
            0,
        )
        .expect("accepted");
    f.pump();
    assert!(
        f.store_ops
            .iter()
            .any(|op| matches!(op, StoreOp::Put(e) if e.id == id)),
        "written to the shared database by the follower itself"
    );
    net.upstream.clear();
    net.route();
    assert_eq!(
        net.leader.core.snapshot().outbox.depth,
        1,
        "adopted by the leader"
    );
    let sent: Vec<_> = net
        .upstream
        .iter()
        .filter(|m| matches!(m, ClientMessage::Publish { durable: false, .. }))
        .collect();
    assert_eq!(
        sent.len(),
        1,
        "sent by the leader (no tab marker towards the server)"
    );
    assert_eq!(net.server_acks(), vec![id.clone()]);
    assert!(net.leader.store_ops.contains(&StoreOp::Delete(id.clone())));
    let f = net.follower(0);
    assert!(f.take_events().contains(&Event::PublishDone {
        id: id.clone(),
        result: Ok(Some(1))
    }));
    assert_eq!(f.core.snapshot().outbox.depth, 0);
    assert_eq!(net.leader.core.snapshot().outbox.depth, 0);
}

#[test]
fn requests_are_answered_to_the_tab_that_asked_only() {
    let mut net = Net::new(2);
    net.upstream.clear();
    let f = net.follower(1);
    let id = f
        .core
        .request(f.now, "echo".into(), RawJson::null(), None)
        .expect("sent");
    f.pump();
    assert!(
        id.starts_with("F1."),
        "request ids are unique across tabs: {id}"
    );
    net.route();
    assert!(
        net.upstream
            .iter()
            .any(|m| matches!(m, ClientMessage::Request { id: r, .. } if *r == id))
    );
    net.leader.receive(ServerMessage::Response {
        id: id.clone(),
        result: Ok(RawJson::parse("42").expect("json")),
    });
    net.route();
    assert!(net.follower(1).take_events().contains(&Event::RequestDone {
        id,
        result: Ok(RawJson::parse("42").expect("json"))
    }));
    assert!(
        net.follower(0)
            .take_events()
            .iter()
            .all(|e| !matches!(e, Event::Error(_))),
        "the other tab is not bothered"
    );
    assert!(
        net.leader.take_error_kinds().is_empty(),
        "no unknown answer in the leader"
    );
}

#[test]
fn while_the_leader_is_offline_tab_requests_wait_for_its_connection() {
    let mut net = Net::new(1);
    net.leader.socket_closes(1006);
    net.route();
    net.upstream.clear();
    let f = net.follower(0);
    let id = f
        .core
        .request(f.now, "echo".into(), RawJson::null(), None)
        .expect("sent");
    f.pump();
    net.route();
    assert!(net.upstream.is_empty(), "held by the leader");
    net.leader.advance(2_000);
    net.leader.socket_opens();
    net.leader.welcome();
    net.route();
    assert!(
        net.upstream
            .iter()
            .any(|m| matches!(m, ClientMessage::Request { id: r, .. } if *r == id))
    );
}

#[test]
fn a_new_leader_takes_over_and_followers_resume_their_channels() {
    let mut net = Net::new(2);
    for n in 0..2 {
        let now = net.follower(n).now;
        net.follower(n).core.subscribe(now, "scores", None, 0, None);
        net.follower(n).pump();
    }
    net.route();
    net.leader.receive(event("scores", 1));
    net.leader.receive(event("scores", 2));
    net.route();
    assert_eq!(deliveries(net.follower(0)), vec![1, 2]);
    assert_eq!(deliveries(net.follower(1)), vec![1, 2]);

    // The leader tab closes; F0 is granted the lock and leads; F1 hears it and links to it.
    let (f0_tab, mut f0) = net.followers.remove(0);
    let now = f0.now;
    f0.core.handle_lock_granted(now, 0);
    f0.pump();
    assert_eq!(f0.core.role(), Role::Leader);
    assert!(
        f0.tab_actions.contains(&TabAction::ReloadStorage),
        "a new leader drains the shared outbox"
    );
    assert!(f0.socket.is_some(), "the new leader opens its own socket");
    f0.socket_opens();
    f0.welcome();
    let old = std::mem::replace(&mut net.leader, f0);
    drop(old);
    net.leader_tab = f0_tab;
    net.upstream = net.leader.take_sent();
    net.route();
    let leader_tab = net.leader_tab.clone();
    assert_eq!(net.follower(0).core.tab_leader(), Some(leader_tab.as_str()));
    // The new leader resumes the channel for itself (since 2) and for F1 (since 2).
    let subs: Vec<_> = net
        .upstream
        .iter()
        .filter(|m| matches!(m, ClientMessage::Subscribe { .. }))
        .cloned()
        .collect();
    assert!(
        subs.contains(&ClientMessage::Subscribe {
            channel: "scores".into(),
            since: Some(2)
        }),
        "{subs:?}"
    );
    // The server replays from 2 and goes on: F1 gets only what it has not seen.
    for seq in [2, 3] {
        net.leader.receive(event("scores", seq));
    }
    net.route();
    assert_eq!(deliveries(net.follower(0)), vec![3]);
    assert_eq!(deliveries(&mut net.leader), vec![3]);
}

#[test]
fn tab_messages_round_trip_through_the_bus_codec() {
    let m = TabMessage {
        ns: "syncline:default".into(),
        from: "F0".into(),
        to: Some("L".into()),
        body: TabBody::Up {
            frame: ClientMessage::Ping { ts: 9 }.encode(),
        },
    };
    let text = m.encode().expect("encodes");
    let back = TabMessage::decode(&text, "syncline:default").expect("decodes");
    let TabBody::Up { frame } = back.body else {
        panic!("kind kept");
    };
    assert_eq!(
        decode_client_frame(&frame)
            .expect("frame")
            .pop()
            .and_then(Result::ok),
        Some(ClientMessage::Ping { ts: 9 })
    );
}

#[test]
fn a_follower_publish_while_the_leader_is_offline_resolves_as_queued_once_stored() {
    let mut net = Net::new(1);
    net.leader.socket_closes(1006);
    net.route();
    let f = net.follower(0);
    f.auto_store = false;
    let id = f.core.next_publish_id(f.now, [5; 10]);
    f.core
        .publish_durable(
            f.now,
            id.clone(),
            "c".into(),
            "e".into(),
            RawJson::null(),
            0,
        )
        .expect("accepted");
    f.pump();
    let now = f.now;
    f.core.handle_stored(now, std::slice::from_ref(&id));
    f.pump();
    assert!(
        f.take_events()
            .contains(&Event::PublishQueued { id: id.clone() }),
        "no waiting for an ack the offline leader cannot get"
    );
    // Published while the leader was up, then the leader goes down: the promise resolves too.
    net.leader.advance(2_000);
    net.leader.socket_opens();
    net.leader.welcome();
    net.route();
    let f = net.follower(0);
    let second = f.core.next_publish_id(f.now, [6; 10]);
    f.core
        .publish_durable(
            f.now,
            second.clone(),
            "c".into(),
            "e".into(),
            RawJson::null(),
            0,
        )
        .expect("accepted");
    f.pump();
    let now = f.now;
    f.core.handle_stored(now, std::slice::from_ref(&second));
    f.pump();
    assert!(
        !f.events
            .iter()
            .any(|e| matches!(e, Event::PublishQueued { id } if *id == second))
    );
    net.route();
    net.leader.socket_closes(1006);
    net.route();
    assert!(
        net.follower(0)
            .take_events()
            .contains(&Event::PublishQueued { id: second })
    );
}

/// Publishes `n` durable events from the leader, one per millisecond (the server does not
/// ack them yet).
fn leader_publishes(net: &mut Net, n: u64) {
    for i in 0..n {
        let l = &mut net.leader;
        let id = l.core.next_publish_id(l.now, [(i % 251) as u8; 10]);
        l.core
            .publish_durable(l.now, id, "c".into(), "e".into(), RawJson::null(), 0)
            .expect("accepted");
        l.pump();
        net.route();
        net.leader.advance(1);
        net.route();
    }
}

#[test]
fn the_leader_shares_outbox_counts_at_most_every_100_ms_and_always_the_latest() {
    // Alone, the leader has nobody to tell.
    let mut alone = Net::new(0);
    let before = alone.shares.len();
    leader_publishes(&mut alone, 50);
    alone.leader.advance(1_000);
    alone.route();
    assert_eq!(alone.shares.len(), before, "shared with no tab linked");

    let mut net = Net::new(1);
    let (before, start) = (net.shares.len(), net.leader.now);
    leader_publishes(&mut net, 500);
    let during = net.shares.len() - before;
    assert!(
        (4..=6).contains(&during),
        "{during} shares for 500 changes of depth in 500 ms"
    );
    assert!(
        net.shares
            .windows(2)
            .skip(before)
            .all(|w| w[1] - w[0] >= 100)
    );
    // The last change is not held back for good.
    net.leader.advance(100);
    net.route();
    assert_eq!(net.follower(0).core.snapshot().outbox.depth, 500);
    // Nor is the drain: the acks' depth 0 reaches the follower within 100 ms.
    let mut acked = 0;
    while acked < 500 {
        let n = net.server_acks().len();
        assert!(n > 0, "the window refills as acks come");
        acked += n;
    }
    net.leader.advance(100);
    net.route();
    assert_eq!(net.follower(0).core.snapshot().outbox.depth, 0);
    assert!(net.leader.now - start < 1_000);
}
