//! The tabs part alone on a simulated clock: several tabs on an in-memory bus, each deadline
//! fired when the clock reaches it.

// This whole file is the `tests` module (declared under `#[cfg(test)]` in mod.rs).
#[cfg(test)]
use super::election::{ASK_AGAIN_MS, CLAIM_MS, DISCOVERY_MS, HEARTBEAT_MS, LEADER_TIMEOUT_MS};
use super::*;
use crate::core::state::{ConnectionState, OutboxStatus};

struct Bus {
    tabs: Vec<(String, Tabs)>,
    now: u64,
    /// Every post, as (from, to, body), in order.
    log: Vec<(String, Option<String>, TabBody)>,
    /// Role changes per tab, in order.
    roles: Vec<(String, Role)>,
    reloads: Vec<String>,
}

impl Bus {
    fn new() -> Self {
        Self {
            tabs: Vec::new(),
            now: 1_000,
            log: Vec::new(),
            roles: Vec::new(),
            reloads: Vec::new(),
        }
    }

    fn join(&mut self, id: &str, locks: bool) {
        let mut tabs = Tabs::new(id);
        tabs.start(self.now, Some(locks));
        self.tabs.push((id.to_owned(), tabs));
        self.deliver();
    }

    fn tab(&mut self, id: &str) -> &mut Tabs {
        let i = self.index(id);
        &mut self.tabs[i].1
    }

    fn index(&self, id: &str) -> usize {
        self.tabs.iter().position(|(t, _)| t == id).expect("tab")
    }

    /// Carries every post to its recipients until the bus is quiet.
    fn deliver(&mut self) {
        for _ in 0..100 {
            let mut posts = Vec::new();
            for (id, tab) in &mut self.tabs {
                while let Some(out) = tab.poll_output() {
                    match out {
                        TabsOutput::Action(TabAction::Post { to, body }) => {
                            posts.push((id.clone(), to, body))
                        }
                        TabsOutput::Action(TabAction::ReloadStorage) => {
                            self.reloads.push(id.clone())
                        }
                        TabsOutput::Action(
                            TabAction::CloseBus
                            | TabAction::SaveTerm(_)
                            | TabAction::SaveClearMark(_),
                        ) => {}
                        TabsOutput::RoleChanged { role, .. } => self.roles.push((id.clone(), role)),
                        TabsOutput::LeaderChanged => {}
                    }
                }
            }
            if posts.is_empty() {
                return;
            }
            for (from, to, body) in posts {
                for (id, tab) in &mut self.tabs {
                    if *id != from && to.as_deref().is_none_or(|t| t == id) {
                        tab.handle_election(self.now, &from, &body);
                    }
                }
                self.log.push((from, to, body));
            }
        }
        panic!("the bus did not settle");
    }

    /// Moves the clock `ms` ahead, firing every deadline on the way, in order.
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        loop {
            self.deliver();
            let next = self
                .tabs
                .iter()
                .filter_map(|(_, t)| t.next_deadline())
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    for (_, tab) in &mut self.tabs {
                        if tab.next_deadline().is_some_and(|d| d <= self.now) {
                            tab.handle_timeout(self.now);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = end;
        self.deliver();
    }

    fn leaders(&self) -> Vec<&str> {
        self.tabs
            .iter()
            .filter(|(_, t)| t.role() == Role::Leader)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    fn claims(&self) -> usize {
        self.log
            .iter()
            .filter(|(_, _, b)| matches!(b, TabBody::Claim { .. }))
            .count()
    }
}

#[test]
fn without_locks_a_lone_tab_claims_and_leads_after_discovery_and_claim() {
    let mut bus = Bus::new();
    bus.join("a", false);
    assert_eq!(bus.tab("a").role(), Role::Pending);
    assert_eq!(bus.tab("a").next_deadline(), Some(1_000 + DISCOVERY_MS));
    bus.run(DISCOVERY_MS - 1);
    assert_eq!(bus.claims(), 0, "no claim before discovery ends");
    bus.run(1);
    assert_eq!(bus.claims(), 1);
    assert_eq!(
        bus.tab("a").role(),
        Role::Pending,
        "a candidate waits for rivals"
    );
    bus.run(CLAIM_MS);
    assert_eq!(bus.leaders(), vec!["a"]);
    assert_eq!(
        bus.reloads,
        vec!["a"],
        "a new leader reloads the shared outbox"
    );
    assert_eq!(bus.tab("a").leader(), Some("a"));
    // Its announcement repeats every heartbeat: the next deadline is one heartbeat away.
    assert_eq!(bus.tab("a").next_deadline(), Some(bus.now + HEARTBEAT_MS));
}

#[test]
fn without_locks_rival_claims_leave_one_leader_the_smallest_id() {
    let mut bus = Bus::new();
    for id in ["c", "a", "b"] {
        bus.join(id, false);
    }
    bus.run(DISCOVERY_MS + CLAIM_MS + 10);
    assert_eq!(bus.leaders(), vec!["a"]);
    for id in ["b", "c"] {
        assert_eq!(bus.tab(id).role(), Role::Follower);
        assert_eq!(bus.tab(id).leader(), Some("a"));
    }
    // The heartbeat keeps followers quiet: no new claim for many timeouts.
    let claims = bus.claims();
    bus.run(3 * LEADER_TIMEOUT_MS);
    assert_eq!(bus.claims(), claims);
    assert_eq!(bus.leaders(), vec!["a"]);
}

#[test]
fn without_locks_a_silent_leader_is_replaced_after_the_leader_timeout() {
    let mut bus = Bus::new();
    bus.join("a", false);
    bus.join("b", false);
    bus.run(DISCOVERY_MS + CLAIM_MS + 10);
    assert_eq!(bus.leaders(), vec!["a"]);
    bus.tabs.remove(0); // a crashes: no bye
    // b heard a's last announcement at most one heartbeat ago.
    bus.run(LEADER_TIMEOUT_MS - HEARTBEAT_MS - 1);
    assert_eq!(bus.tab("b").role(), Role::Follower, "b still waits");
    assert_eq!(
        bus.claims(),
        2,
        "only the first claims (a's, b's discovery)"
    );
    bus.run(HEARTBEAT_MS + CLAIM_MS + 10);
    assert_eq!(bus.leaders(), vec!["b"]);
}

#[test]
fn without_locks_a_leader_that_says_bye_is_replaced_at_once() {
    let mut bus = Bus::new();
    bus.join("a", false);
    bus.join("b", false);
    bus.run(DISCOVERY_MS + CLAIM_MS + 10);
    bus.tab("a").leave();
    bus.deliver();
    bus.tabs.remove(0);
    assert_eq!(bus.tab("b").role(), Role::Pending, "b claims at once");
    bus.run(CLAIM_MS);
    assert_eq!(bus.leaders(), vec!["b"]);
}

#[test]
fn without_locks_a_leader_steps_down_for_a_better_one() {
    let mut bus = Bus::new();
    bus.join("b", false);
    bus.run(DISCOVERY_MS + CLAIM_MS + 10);
    assert_eq!(bus.leaders(), vec!["b"]);
    // A leader of a later term (after a split, say) announces itself: b follows it.
    let now = bus.now;
    bus.tab("b")
        .handle_election(now, "z", &TabBody::Leader { term: 9 });
    bus.deliver();
    assert_eq!(bus.tab("b").role(), Role::Follower);
    assert_eq!(bus.tab("b").leader(), Some("z"));
    assert_eq!(bus.roles.last(), Some(&("b".to_owned(), Role::Follower)));
    // A stale one of an earlier term is told who leads instead.
    let mut bus = Bus::new();
    bus.join("b", false);
    bus.run(DISCOVERY_MS + CLAIM_MS + 10);
    let now = bus.now;
    bus.tab("b")
        .handle_election(now, "a", &TabBody::Leader { term: 0 });
    assert_eq!(bus.tab("b").role(), Role::Leader);
    let reply = bus.tab("b").poll_output();
    assert_eq!(
        reply,
        Some(TabsOutput::Action(TabAction::Post {
            to: Some("a".into()),
            body: TabBody::Leader { term: 1 }
        }))
    );
}

#[test]
fn with_locks_a_who_lost_on_the_way_is_asked_again() {
    let mut bus = Bus::new();
    bus.join("a", true);
    let now = bus.now;
    bus.tab("a").handle_lock_granted(now, 0);
    bus.deliver();
    // b's question goes nowhere (the leader's page was paused when it was posted).
    let mut b = Tabs::new("b");
    b.start(bus.now, Some(true));
    while b.poll_output().is_some() {}
    bus.tabs.push(("b".to_owned(), b));
    assert_eq!(bus.tab("b").role(), Role::Pending);
    bus.run(ASK_AGAIN_MS + 10);
    assert_eq!(bus.tab("b").leader(), Some("a"), "asked again and told");
    assert_eq!(bus.tab("b").role(), Role::Follower);
}

#[test]
fn with_locks_the_lock_holder_leads_no_timers_run_and_the_next_holder_takes_over() {
    let mut bus = Bus::new();
    bus.join("a", true);
    bus.join("b", true);
    // Without a leader a tab only asks again who leads, now and then (a paused page drops
    // what was posted to it); nobody claims.
    assert_eq!(bus.tab("a").next_deadline(), Some(bus.now + ASK_AGAIN_MS),);
    bus.run(10 * LEADER_TIMEOUT_MS);
    assert!(
        bus.leaders().is_empty(),
        "no lock, no leader: nobody claims"
    );
    assert_eq!(bus.claims(), 0);
    let now = bus.now;
    bus.tab("a").handle_lock_granted(now, 0);
    bus.deliver();
    assert_eq!(bus.leaders(), vec!["a"]);
    assert_eq!(bus.tab("b").leader(), Some("a"));
    assert_eq!(bus.tab("b").role(), Role::Follower);
    bus.join("c", true);
    assert_eq!(
        bus.tab("c").leader(),
        Some("a"),
        "a newcomer asks and is told"
    );
    assert!(
        bus.tabs.iter().all(|(_, t)| t.next_deadline().is_none()),
        "with a leader nothing polls"
    );
    // a closes; the browser grants b the lock.
    bus.tab("a").leave();
    bus.deliver();
    bus.tabs.remove(0);
    assert_eq!(bus.tab("c").role(), Role::Pending);
    let now = bus.now;
    bus.tab("b").handle_lock_granted(now, 0);
    bus.deliver();
    assert_eq!(bus.leaders(), vec!["b"]);
    assert_eq!(bus.tab("c").leader(), Some("b"));
}

fn state(depth: usize, state: ConnectionState) -> SharedState {
    SharedState {
        state,
        online: true,
        attempt: 0,
        reconnects: 0,
        rtt_ms: None,
        retry_at: None,
        last_error: None,
        session: None,
        recovered: None,
        missed_after: None,
        outbox: OutboxStatus {
            depth,
            ..OutboxStatus::default()
        },
    }
}

#[test]
fn a_leader_shares_changes_at_once_and_counts_at_most_every_100_ms() {
    let mut tabs = Tabs::new("L");
    tabs.set_role(Role::Leader);
    let open = ConnectionState::Open;
    assert_eq!(tabs.share(0, state(0, open), false), None, "nobody to tell");
    tabs.hub.link("F", 0);
    assert!(
        tabs.share(0, state(0, open), false).is_some(),
        "first share"
    );
    assert_eq!(tabs.share(1, state(0, open), false), None, "nothing new");
    // Counts alone: held back until 100 ms after the last share, then the latest goes.
    assert_eq!(tabs.share(10, state(1, open), false), None);
    assert_eq!(tabs.share(20, state(2, open), false), None);
    assert_eq!(tabs.next_deadline(), Some(SHARE_COUNTS_MS));
    assert_eq!(
        tabs.share(SHARE_COUNTS_MS, state(3, open), false),
        Some(state(3, open))
    );
    assert_eq!(tabs.next_deadline(), None);
    // A change of connection state is never held back, nor is a share for a new tab.
    let waiting = ConnectionState::Waiting;
    assert_eq!(
        tabs.share(101, state(3, waiting), false),
        Some(state(3, waiting))
    );
    assert_eq!(
        tabs.share(102, state(3, waiting), true),
        Some(state(3, waiting))
    );
    // A tab that stops leading stops sharing, and drops what it held back.
    assert_eq!(tabs.share(103, state(4, waiting), false), None);
    assert!(tabs.next_deadline().is_some());
    tabs.set_role(Role::Follower);
    assert_eq!(tabs.share(104, state(5, waiting), false), None);
    assert_eq!(tabs.next_deadline(), None);
}

#[test]
fn a_follower_keeps_the_leader_state_and_forgets_it_with_its_role() {
    let mut tabs = Tabs::new("F");
    assert!(
        !tabs.handle_leader_state(state(1, ConnectionState::Open)),
        "solo"
    );
    tabs.set_role(Role::Follower);
    assert!(tabs.handle_leader_state(state(1, ConnectionState::Open)));
    assert_eq!(tabs.leader_view().map(|s| s.outbox.depth), Some(1));
    tabs.set_role(Role::Pending);
    assert_eq!(tabs.leader_view(), None);
}

#[test]
fn a_leader_that_stops_leading_reports_the_emits_it_dropped() {
    let mut tabs = Tabs::new("L");
    tabs.set_role(Role::Leader);
    let _ = tabs.poll_output();
    let emit = crate::protocol::envelope::ClientMessage::Emit {
        event: "e".into(),
        data: crate::protocol::envelope::RawJson::null(),
        spread: false,
    };
    assert!(tabs.hub.queue(emit));
    tabs.set_role(Role::Pending);
    assert_eq!(
        tabs.poll_output(),
        Some(TabsOutput::RoleChanged {
            role: Role::Pending,
            dropped_emits: 1
        })
    );
}
