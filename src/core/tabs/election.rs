//! Which tab leads: a small sans-IO state machine inside the [`Tabs`](super::Tabs) part.
//!
//! With the Web Locks API the browser decides: the tab granted the lock leads until it closes
//! or crashes, and the next waiting tab is granted it at once. The election then only spreads
//! the word: the leader announces itself (`leader`), newcomers ask (`who`).
//!
//! Without Web Locks, tabs agree over the bus: a tab that hears no leader claims a term
//! (`claim`); among rival claims the higher term, then the smaller tab id, wins; the winner
//! announces itself and repeats that every [`HEARTBEAT_MS`]; followers that hear nothing for
//! [`LEADER_TIMEOUT_MS`] claim the next term. A leader that hears a better leader steps down.

use super::codec::TabBody;
use crate::core::state::Role;

/// Time to wait for an answer to `who` before claiming (no-locks mode).
pub const DISCOVERY_MS: u64 = 300;
/// Time rival claims have to arrive before a candidate takes office (no-locks mode).
pub const CLAIM_MS: u64 = 200;
/// A leader without locks repeats its announcement this often.
pub const HEARTBEAT_MS: u64 = 2_000;
/// Followers without locks give up on a silent leader after this long.
pub const LEADER_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Asked who leads; waiting.
    Discovering,
    /// Claimed `term`; waiting for rivals.
    Candidate,
    /// Holds office in `term`.
    Leading,
    /// Follows `leader`.
    Following(String),
    /// Not taking part (closed).
    Stopped,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionAction {
    /// Post on the bus, to one tab or all.
    Post { to: Option<String>, body: TabBody },
    /// This tab's role changed; `leader` is the tab to follow.
    Role { role: Role, leader: Option<String> },
}

/// The election of one tab.
#[derive(Debug)]
pub struct Election {
    me: String,
    locks: bool,
    stage: Stage,
    term: u64,
    deadline: Option<u64>,
    actions: Vec<ElectionAction>,
}

impl Election {
    /// Starts: asks who leads. `locks`: the Web Locks API decides who leads.
    pub fn start(now: u64, me: &str, locks: bool) -> Self {
        let mut e = Self {
            me: me.to_owned(),
            locks,
            stage: Stage::Discovering,
            term: 0,
            deadline: (!locks).then(|| now + DISCOVERY_MS),
            actions: Vec::new(),
        };
        e.post(None, TabBody::Who);
        e
    }

    /// What to do, in order.
    pub fn take_actions(&mut self) -> Vec<ElectionAction> {
        std::mem::take(&mut self.actions)
    }

    /// When [`Election::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.deadline
    }

    /// The tab this one follows.
    pub fn leader(&self) -> Option<&str> {
        match &self.stage {
            Stage::Following(leader) => Some(leader),
            Stage::Leading => Some(&self.me),
            _ => None,
        }
    }

    fn post(&mut self, to: Option<String>, body: TabBody) {
        self.actions.push(ElectionAction::Post { to, body });
    }

    fn set_stage(&mut self, stage: Stage) {
        let (role, leader) = match &stage {
            Stage::Leading => (Role::Leader, Some(self.me.clone())),
            Stage::Following(l) => (Role::Follower, Some(l.clone())),
            _ => (Role::Pending, None),
        };
        let changed = self.leader() != leader.as_deref()
            || matches!((&self.stage, &stage), (Stage::Stopped, _));
        self.stage = stage;
        if changed {
            self.actions.push(ElectionAction::Role { role, leader });
        }
    }

    /// The Web Locks API granted this tab the lock: it leads.
    pub fn lock_granted(&mut self, now: u64) {
        if self.stage == Stage::Stopped {
            return;
        }
        self.term += 1;
        self.take_office(now);
    }

    fn take_office(&mut self, now: u64) {
        self.set_stage(Stage::Leading);
        self.deadline = (!self.locks).then(|| now + HEARTBEAT_MS);
        self.post(None, TabBody::Leader { term: self.term });
    }

    /// A message from tab `from` that concerns the election.
    pub fn handle(&mut self, now: u64, from: &str, body: &TabBody) {
        if self.stage == Stage::Stopped || from == self.me {
            return;
        }
        match body {
            TabBody::Who => {
                if self.stage == Stage::Leading {
                    self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
                }
            }
            TabBody::Leader { term } => self.heard_leader(now, from, *term),
            TabBody::Claim { term } => self.heard_claim(now, from, *term),
            TabBody::Bye => {
                if self.leader() == Some(from) {
                    // With locks the next holder announces itself; without, claim at once.
                    self.set_stage(Stage::Discovering);
                    if self.locks {
                        self.deadline = None;
                    } else {
                        self.claim(now);
                    }
                }
            }
            _ => {}
        }
    }

    fn heard_leader(&mut self, now: u64, from: &str, term: u64) {
        if self.stage == Stage::Leading {
            // Two leaders: only possible without locks (or from a stale tab). The better one
            // stays; the other follows it. With locks this tab really holds the lock: keep it
            // and tell the other.
            let theirs_better = term > self.term || (term == self.term && from < self.me.as_str());
            if self.locks || !theirs_better {
                self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
                return;
            }
        }
        if !self.locks && self.stage == Stage::Candidate && term < self.term {
            return;
        }
        self.term = self.term.max(term);
        self.set_stage(Stage::Following(from.to_owned()));
        self.deadline = (!self.locks).then(|| now + LEADER_TIMEOUT_MS);
    }

    fn heard_claim(&mut self, now: u64, from: &str, term: u64) {
        if self.locks {
            return;
        }
        match self.stage {
            Stage::Leading => {
                // Someone did not hear this leader: tell them.
                self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
            }
            Stage::Candidate => {
                if term > self.term || (term == self.term && from < self.me.as_str()) {
                    // A better claim: let it win, and claim again if it never takes office.
                    self.term = term;
                    self.set_stage(Stage::Discovering);
                    self.deadline = Some(now + LEADER_TIMEOUT_MS);
                }
            }
            _ => {
                self.term = self.term.max(term);
                if self.deadline.is_none_or(|d| d > now + LEADER_TIMEOUT_MS) {
                    self.deadline = Some(now + LEADER_TIMEOUT_MS);
                }
            }
        }
    }

    fn claim(&mut self, now: u64) {
        self.term += 1;
        self.stage = Stage::Candidate;
        self.deadline = Some(now + CLAIM_MS);
        self.post(None, TabBody::Claim { term: self.term });
    }

    /// The deadline passed (only used without locks).
    pub fn handle_timeout(&mut self, now: u64) {
        if self.deadline.is_none_or(|d| d > now) {
            return;
        }
        match self.stage {
            Stage::Discovering | Stage::Following(_) => {
                if matches!(self.stage, Stage::Following(_)) {
                    self.set_stage(Stage::Discovering);
                }
                self.claim(now);
            }
            Stage::Candidate => self.take_office(now),
            Stage::Leading => {
                self.deadline = Some(now + HEARTBEAT_MS);
                self.post(None, TabBody::Leader { term: self.term });
            }
            Stage::Stopped => self.deadline = None,
        }
    }

    /// This tab leaves (closing): a leader hands over, everyone says bye.
    pub fn stop(&mut self) {
        if self.stage != Stage::Stopped {
            self.post(None, TabBody::Bye);
            self.stage = Stage::Stopped;
            self.deadline = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tabs on a simulated bus, with or without locks.
    struct Bus {
        tabs: Vec<Election>,
        now: u64,
    }

    impl Bus {
        fn deliver(&mut self) {
            for _ in 0..100 {
                let mut posts = Vec::new();
                for (i, tab) in self.tabs.iter_mut().enumerate() {
                    for action in tab.take_actions() {
                        if let ElectionAction::Post { to, body } = action {
                            posts.push((i, to, body));
                        }
                    }
                }
                if posts.is_empty() {
                    return;
                }
                for (from, to, body) in posts {
                    let from_id = self.tabs[from].me.clone();
                    for (i, tab) in self.tabs.iter_mut().enumerate() {
                        if i != from && to.as_deref().is_none_or(|t| t == tab.me) {
                            tab.handle(self.now, &from_id, &body);
                        }
                    }
                }
            }
        }

        fn run(&mut self, ms: u64) {
            let end = self.now + ms;
            loop {
                self.deliver();
                let next = self.tabs.iter().filter_map(Election::poll_timeout).min();
                match next {
                    Some(at) if at <= end => {
                        self.now = self.now.max(at);
                        for tab in &mut self.tabs {
                            tab.handle_timeout(self.now);
                        }
                    }
                    _ => break,
                }
            }
            self.now = end;
            self.deliver();
        }

        fn leaders(&self) -> Vec<String> {
            self.tabs
                .iter()
                .filter(|t| t.stage == Stage::Leading)
                .map(|t| t.me.clone())
                .collect()
        }
    }

    #[test]
    fn with_locks_the_lock_holder_leads_and_everyone_learns_it() {
        let mut bus = Bus {
            tabs: vec![],
            now: 0,
        };
        bus.tabs.push(Election::start(0, "a", true));
        bus.tabs[0].lock_granted(0);
        bus.tabs.push(Election::start(0, "b", true));
        bus.tabs.push(Election::start(0, "c", true));
        bus.run(10);
        assert_eq!(bus.leaders(), vec!["a"]);
        assert_eq!(bus.tabs[1].leader(), Some("a"));
        assert_eq!(bus.tabs[2].leader(), Some("a"));
        assert_eq!(
            bus.tabs[1].poll_timeout(),
            None,
            "no timers with locks: no polling"
        );
        // a closes; the browser grants b the lock.
        bus.tabs[0].stop();
        bus.run(1);
        bus.tabs.remove(0);
        bus.tabs[0].lock_granted(bus.now);
        bus.run(1);
        assert_eq!(bus.leaders(), vec!["b"]);
        assert_eq!(bus.tabs[1].leader(), Some("b"));
    }

    #[test]
    fn without_locks_exactly_one_leader_emerges_and_a_closed_leader_is_replaced() {
        let mut bus = Bus {
            tabs: vec![],
            now: 0,
        };
        for id in ["c", "a", "b"] {
            bus.tabs.push(Election::start(0, id, false));
        }
        bus.run(DISCOVERY_MS + CLAIM_MS + 10);
        assert_eq!(bus.leaders(), vec!["a"], "same term: the smallest id wins");
        assert!(bus.tabs.iter().all(|t| t.leader() == Some("a")));
        // Followers stay quiet while the leader's heartbeat goes on.
        bus.run(3 * HEARTBEAT_MS);
        assert_eq!(bus.leaders(), vec!["a"]);
        // The leader closes: a new one at once, without waiting for the timeout.
        let a = bus.tabs.iter().position(|t| t.me == "a").unwrap_or(0);
        bus.tabs[a].stop();
        bus.deliver();
        bus.tabs.remove(a);
        bus.run(CLAIM_MS + 10);
        assert_eq!(bus.leaders(), vec!["b"]);
    }

    #[test]
    fn without_locks_a_crashed_leader_is_replaced_after_the_timeout() {
        let mut bus = Bus {
            tabs: vec![],
            now: 0,
        };
        for id in ["a", "b"] {
            bus.tabs.push(Election::start(0, id, false));
        }
        bus.run(DISCOVERY_MS + CLAIM_MS + 10);
        assert_eq!(bus.leaders(), vec!["a"]);
        bus.tabs.remove(0); // crash: no bye
        bus.run(LEADER_TIMEOUT_MS + CLAIM_MS + 10);
        assert_eq!(bus.leaders(), vec!["b"]);
    }

    #[test]
    fn a_newcomer_follows_the_existing_leader() {
        let mut bus = Bus {
            tabs: vec![],
            now: 0,
        };
        bus.tabs.push(Election::start(0, "z", false));
        bus.run(DISCOVERY_MS + CLAIM_MS + 10);
        bus.tabs.push(Election::start(bus.now, "a", false));
        bus.run(DISCOVERY_MS + CLAIM_MS + 10);
        assert_eq!(
            bus.leaders(),
            vec!["z"],
            "a smaller id does not depose a sitting leader"
        );
        assert_eq!(bus.tabs[1].leader(), Some("z"));
    }
}
