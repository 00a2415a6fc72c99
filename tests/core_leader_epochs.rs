//! Leadership terms between tabs, simulated natively with injected time: stale and forged
//! leader messages do not move a follower (or cost it one link timeout at most, never the
//! connect timeout), the lock holder's term counts on from the stored one, and the auth token
//! never goes on the tab bus, even from a leader that steps down.
#![cfg(not(target_arch = "wasm32"))]

mod sim;
mod tabnet;

use sim::Sim;
use syncline::core::Role;
use syncline::core::conn::LINK_TIMEOUT_MS;
use syncline::core::tabs::{TabAction, TabBody, TabMessage};
use syncline::protocol::envelope::{ClientMessage, RawJson};
use tabnet::Net;

/// A message on the bus from `from` (another page of the origin, or a stale tab).
fn post(net: &mut Net, from: &str, to: Option<&str>, body: TabBody) {
    let message = TabMessage {
        ns: "syncline:default".into(),
        from: from.into(),
        to: to.map(str::to_owned),
        body,
    };
    // Every tab hears it (or the one it names), as on the real bus.
    let leader_tab = net.leader_tab.clone();
    if to.is_none_or(|t| t == leader_tab) {
        let now = net.leader.now;
        net.leader.core.handle_bus_message(now, message.clone());
        net.leader.pump();
    }
    for (tab, f) in &mut net.followers {
        if to.is_none_or(|t| t == tab) {
            let now = f.now;
            f.core.handle_bus_message(now, message.clone());
            f.pump();
        }
    }
    net.route();
}

/// The follower publishes; true when the leader sent it to the server.
fn publish_reaches_server(net: &mut Net, n: u8) -> bool {
    net.upstream.clear();
    let f = net.follower(0);
    let id = f.core.next_publish_id(f.now, [n; 10]);
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
    net.route();
    net.upstream
        .iter()
        .any(|m| matches!(m, ClientMessage::Publish { id: sent, .. } if *sent == id))
}

fn advance_all(net: &mut Net, ms: u64) {
    net.leader.advance(ms);
    for (_, f) in &mut net.followers {
        f.advance(ms);
    }
    net.route();
}

#[test]
fn stale_and_rival_announcements_and_goodbyes_of_other_terms_are_ignored() {
    let mut net = Net::new(1);
    let term = net.leader.core.tab_term();
    assert_eq!(term, 1, "the first lock holder's term");
    assert_eq!(net.follower(0).core.tab_term(), term);
    let links = net.follower(0).opens.len();
    post(&mut net, "stale", None, TabBody::Leader { term: term - 1 });
    // (The leader hears the rival too and outbids it: same leader, next term.)
    post(&mut net, "rival", Some("F0"), TabBody::Leader { term });
    post(&mut net, "L", None, TabBody::Bye { term: 99 });
    let term = net.follower(0).core.tab_term();
    post(&mut net, "other", None, TabBody::Bye { term });
    assert_eq!(net.follower(0).core.tab_leader(), Some("L"));
    assert_eq!(
        net.follower(0).opens.len(),
        links,
        "the link to the leader was never dropped"
    );
    assert!(publish_reaches_server(&mut net, 1));
}

#[test]
fn a_goodbye_forged_in_the_leaders_name_costs_one_question_not_the_connect_timeout() {
    let mut net = Net::new(1);
    let term = net.leader.core.tab_term();
    // Exactly what the leader would say when closing.
    post(&mut net, "L", None, TabBody::Bye { term });
    let f = net.follower(0);
    assert_eq!(f.core.role(), Role::Follower, "asked who leads and heard");
    assert_eq!(f.core.tab_leader(), Some("L"));
    assert_eq!(f.state(), "open");
    assert!(
        publish_reaches_server(&mut net, 2),
        "at once, no time passed"
    );
}

#[test]
fn a_forged_higher_term_is_found_out_by_the_link_timeout_and_the_leader_outbids_it() {
    let mut net = Net::new(1);
    let term = net.leader.core.tab_term();
    let started = net.follower(0).now;
    // Sent to the follower alone: the leader does not hear it.
    post(
        &mut net,
        "usurper",
        Some("F0"),
        TabBody::Leader { term: term + 5 },
    );
    assert_eq!(net.follower(0).core.tab_leader(), Some("usurper"));
    assert!(
        !publish_reaches_server(&mut net, 3),
        "the usurper never answers"
    );
    advance_all(&mut net, LINK_TIMEOUT_MS);
    let f = net.follower(0);
    assert_eq!(f.core.tab_leader(), Some("L"), "back with the real leader");
    assert!(f.core.tab_term() > term + 5, "which outbid the forged term");
    assert_eq!(f.state(), "open");
    assert!(f.now - started <= LINK_TIMEOUT_MS);
    assert!(
        LINK_TIMEOUT_MS < Sim::config().connect_timeout_ms,
        "well under the connect timeout"
    );
    // What the follower held while it followed the usurper goes to the server now.
    net.upstream.clear();
    advance_all(&mut net, 1);
    assert!(publish_reaches_server(&mut net, 4));
}

#[test]
fn the_lock_holder_counts_on_from_the_stored_term_and_saves_its_own() {
    let mut s = Sim::with_storage(tabnet::config("A"));
    let now = s.now;
    s.core.start_tabs(now, "broadcastchannel", true, true);
    s.pump();
    s.core.handle_lock_granted(now, 41);
    s.pump();
    assert_eq!(s.core.role(), Role::Leader);
    assert_eq!(s.core.tab_term(), 42);
    assert!(s.tab_actions.contains(&TabAction::SaveTerm(42)));
    assert!(s.tab_actions.contains(&TabAction::Post {
        to: None,
        body: TabBody::Leader { term: 42 }
    }));
    // A rival announcing the same or a higher term is outbid, and the new term saved.
    s.tab_actions.clear();
    let rival = TabMessage {
        ns: "syncline:default".into(),
        from: "B".into(),
        to: None,
        body: TabBody::Leader { term: 50 },
    };
    s.core.handle_bus_message(now, rival);
    s.pump();
    assert_eq!((s.core.role(), s.core.tab_term()), (Role::Leader, 51));
    assert!(s.tab_actions.contains(&TabAction::SaveTerm(51)));
}

#[test]
fn a_leader_that_steps_down_without_locks_puts_no_token_on_the_bus() {
    let mut c = tabnet::config("A");
    c.use_auth = true;
    let mut s = Sim::with_storage(c);
    let now = s.now;
    s.core.start_tabs(now, "storage", true, false);
    s.connect();
    s.advance(1_000);
    assert_eq!(s.core.role(), Role::Leader, "alone, it claimed and leads");
    let attempt = *s.auth_requests.last().expect("asked for credentials");
    let now = s.now;
    s.core
        .handle_auth(now, attempt, Ok(Some("secret-token".into())));
    s.pump();
    s.socket_opens();
    assert!(
        s.frames.iter().any(|f| f.contains("secret-token")),
        "the server's hello carries it (the check can see it)"
    );
    s.welcome();
    s.frames.clear();
    // A better leader: this one steps down and links to it.
    let rival = TabMessage {
        ns: "syncline:default".into(),
        from: "B".into(),
        to: None,
        body: TabBody::Leader { term: 1_000 },
    };
    let now = s.now;
    s.core.handle_bus_message(now, rival);
    s.pump();
    assert_eq!(s.core.role(), Role::Follower);
    s.socket_opens();
    let hello = s
        .sent
        .iter()
        .rev()
        .find(|m| matches!(m, ClientMessage::Hello { .. }))
        .cloned();
    assert!(
        matches!(hello, Some(ClientMessage::Hello { token: None, .. })),
        "{hello:?}"
    );
    assert!(s.frames.iter().all(|f| !f.contains("secret-token")));
    // Nor does a later link hello (the leader did not answer: the tab asks, claims, leads).
    s.advance(10_000);
    assert!(s.frames.iter().all(|f| !f.contains("secret-token")));
}
