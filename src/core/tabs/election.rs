//! Which tab leads: a small sans-IO state machine inside the [`Tabs`](super::Tabs) part.
//!
//! Every leadership has a term (an epoch), and every message a leader sends carries it.
//! A tab follows one leader of one term and ignores any announcement of a lower term, or of
//! the same term from another tab; a goodbye counts only from the leader it follows, in its
//! term. So a stale tab's message, or one posted by another page of the origin, does not move
//! the tabs; and one that does (a forged higher term) costs at most a link's hello timeout:
//! the tab that heard no answer asks again (`who`, with the term it was told), and the real
//! leader answers with a term above it.
//!
//! With the Web Locks API the browser decides: the tab granted the lock leads until it closes
//! or crashes, and the next waiting tab is granted it at once. Its term is one above the
//! highest it knows of (the terms it heard, and the counter the lock holders keep in the
//! origin's storage, see [`ElectionAction::Term`]). The lock holder never steps down: it
//! outbids any term it hears from another tab. Nothing polls: a tab that lost its leader asks
//! `who` once, and the lock holder answers (or, being new, announces itself).
//!
//! Without Web Locks, tabs agree over the bus: a tab that hears no leader claims a term
//! (`claim`); among rival claims the higher term, then the smaller tab id, wins; the winner
//! announces itself and repeats that every [`HEARTBEAT_MS`]; followers that hear nothing for
//! [`LEADER_TIMEOUT_MS`] claim the next term. A leader that hears a better leader steps down;
//! one that hears a claim outbids it.

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
/// With locks, a tab that asked who leads and heard nothing asks again this often: a page
/// the browser paused or froze drops what was posted to it meanwhile, `who` included.
pub const ASK_AGAIN_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Asked who leads; waiting.
    Discovering,
    /// Claimed `term`; waiting for rivals.
    Candidate,
    /// Holds office in `term`.
    Leading,
    /// Follows `leader` in `term`.
    Following,
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
    /// This tab leads (holding the lock) in this term: keep it in the origin's storage, for
    /// the next lock holder to count on from.
    Term(u64),
}

/// The election of one tab.
#[derive(Debug)]
pub struct Election {
    me: String,
    locks: bool,
    stage: Stage,
    /// The term this tab leads or follows (or last did).
    term: u64,
    /// The tab that leads `term`, as far as this tab knows; kept after it said bye or went
    /// quiet, so that it can come back in the same term (the goodbye was not its own).
    leader: Option<String>,
    /// The highest term heard of in any message (claims included): the next claim is above.
    seen: u64,
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
            leader: None,
            seen: 0,
            deadline: Some(now + if locks { ASK_AGAIN_MS } else { DISCOVERY_MS }),
            actions: Vec::new(),
        };
        e.post(None, TabBody::Who { term: 0 });
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

    /// The tab this one follows (itself when it leads).
    pub fn leader(&self) -> Option<&str> {
        match self.stage {
            Stage::Following => self.leader.as_deref(),
            Stage::Leading => Some(&self.me),
            _ => None,
        }
    }

    /// The term of the leader this tab follows, or leads in.
    pub fn term(&self) -> u64 {
        self.term
    }

    fn post(&mut self, to: Option<String>, body: TabBody) {
        self.actions.push(ElectionAction::Post { to, body });
    }

    /// Moves to `stage` (following `leader` when given); the driver hears of it when the tab
    /// to follow changed.
    fn enter(&mut self, stage: Stage, leader: Option<&str>) {
        let before = self.leader().map(str::to_owned);
        let was_stopped = self.stage == Stage::Stopped;
        if let Some(leader) = leader {
            self.leader = Some(leader.to_owned());
        }
        self.stage = stage;
        let after = self.leader().map(str::to_owned);
        if before != after || was_stopped {
            let role = match stage {
                Stage::Leading => Role::Leader,
                Stage::Following => Role::Follower,
                _ => Role::Pending,
            };
            self.actions.push(ElectionAction::Role {
                role,
                leader: after,
            });
        }
    }

    /// The Web Locks API granted this tab the lock: it leads, in a term above `stored` (the
    /// last lock holder's, from the origin's storage) and above any it heard of.
    pub fn lock_granted(&mut self, now: u64, stored: u64) {
        if self.stage == Stage::Stopped {
            return;
        }
        self.term = self.term.max(self.seen).max(stored).saturating_add(1);
        self.take_office(now);
    }

    fn take_office(&mut self, now: u64) {
        self.seen = self.seen.max(self.term);
        let me = self.me.clone();
        self.enter(Stage::Leading, Some(&me));
        self.deadline = (!self.locks).then(|| now + HEARTBEAT_MS);
        self.announce();
    }

    /// Tells every tab this tab leads, in its term.
    fn announce(&mut self) {
        if self.locks {
            self.actions.push(ElectionAction::Term(self.term));
        }
        self.post(None, TabBody::Leader { term: self.term });
    }

    /// The leader heard of `term` from another tab: it leads in a term above it.
    fn outbid(&mut self, term: u64) {
        self.term = term.saturating_add(1);
        self.seen = self.seen.max(self.term);
        self.announce();
    }

    /// Asks who leads, with the term this tab knows of.
    fn ask(&mut self, now: u64) {
        self.post(None, TabBody::Who { term: self.term });
        self.deadline = Some(
            now + if self.locks {
                ASK_AGAIN_MS
            } else {
                DISCOVERY_MS
            },
        );
    }

    /// A message from tab `from` that concerns the election.
    pub fn handle(&mut self, now: u64, from: &str, body: &TabBody) {
        if self.stage == Stage::Stopped || from == self.me {
            return;
        }
        match body {
            TabBody::Who { term } => {
                if self.stage == Stage::Leading {
                    if *term >= self.term {
                        self.outbid(*term);
                    } else {
                        self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
                    }
                }
            }
            TabBody::Leader { term } => self.heard_leader(now, from, *term),
            TabBody::Claim { term } => self.heard_claim(now, from, *term),
            TabBody::Bye { term } => {
                let ours = self.stage == Stage::Following
                    && self.leader.as_deref() == Some(from)
                    && *term == self.term;
                if ours {
                    // With locks the next holder announces itself (and this tab asks until it
                    // hears one); without, claim at once.
                    self.enter(Stage::Discovering, None);
                    if self.locks {
                        self.ask(now);
                    } else {
                        self.claim(now);
                    }
                }
            }
            _ => {}
        }
    }

    /// The follower's link to its leader got no answer: ask again who leads.
    pub fn leader_silent(&mut self, now: u64) {
        if self.stage == Stage::Following {
            self.enter(Stage::Discovering, None);
            self.ask(now);
        }
    }

    fn heard_leader(&mut self, now: u64, from: &str, term: u64) {
        self.seen = self.seen.max(term);
        if self.stage == Stage::Leading {
            // Two leaders. With locks this tab really holds the lock: the other is stale or
            // forged, and this one outbids it. Without, the better one stays.
            if self.locks {
                if term >= self.term {
                    self.outbid(term);
                } else {
                    self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
                }
                return;
            }
            let theirs_better = term > self.term || (term == self.term && from < self.me.as_str());
            if !theirs_better {
                self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
                return;
            }
        } else {
            // Without locks, a tab that follows nobody takes the winner of the claims of its
            // term (there is no lock holder to tell a real leader from a forged one anyway).
            let same = term == self.term && self.leader.as_deref() == Some(from);
            let open = !self.locks && self.stage != Stage::Following && term >= self.term;
            if !(term > self.term || same || open) {
                return;
            }
        }
        self.term = term;
        self.enter(Stage::Following, Some(from));
        self.deadline = (!self.locks).then(|| now + LEADER_TIMEOUT_MS);
    }

    fn heard_claim(&mut self, now: u64, from: &str, term: u64) {
        if self.locks {
            return;
        }
        self.seen = self.seen.max(term);
        match self.stage {
            Stage::Leading => {
                // Someone did not hear this leader: outbid the claim, or tell the claimant.
                if term >= self.term {
                    self.outbid(term);
                } else {
                    self.post(Some(from.to_owned()), TabBody::Leader { term: self.term });
                }
            }
            Stage::Candidate => {
                if term > self.term || (term == self.term && from < self.me.as_str()) {
                    // A better claim: let it win, and claim again if it never takes office.
                    self.term = term;
                    self.enter(Stage::Discovering, None);
                    self.deadline = Some(now + LEADER_TIMEOUT_MS);
                }
            }
            _ => {
                if self.deadline.is_none_or(|d| d > now + LEADER_TIMEOUT_MS) {
                    self.deadline = Some(now + LEADER_TIMEOUT_MS);
                }
            }
        }
    }

    fn claim(&mut self, now: u64) {
        self.term = self.term.max(self.seen).saturating_add(1);
        self.seen = self.term;
        self.stage = Stage::Candidate;
        self.deadline = Some(now + CLAIM_MS);
        self.post(None, TabBody::Claim { term: self.term });
    }

    /// The deadline passed.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.deadline.is_none_or(|d| d > now) {
            return;
        }
        match self.stage {
            Stage::Discovering if self.locks => self.ask(now),
            Stage::Discovering => self.claim(now),
            Stage::Following if self.locks => self.deadline = None,
            Stage::Following => {
                self.enter(Stage::Discovering, None);
                self.claim(now);
            }
            Stage::Candidate => self.take_office(now),
            Stage::Leading if self.locks => self.deadline = None,
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
            self.post(None, TabBody::Bye { term: self.term });
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
        bus.tabs[0].lock_granted(0, 0);
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
        bus.tabs[0].lock_granted(bus.now, 0);
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
