//! The tabs part: this tab's place among the tabs of its origin that share one connection.
//!
//! It owns the election (who leads), the role that follows from it, the leader's hub (its
//! follower tabs' links), the follower's copy of the leader's state, and the leader's
//! throttled sharing of that state. Like every part of the core it is sans-IO: inputs are
//! `handle_*(now, …)`, outputs come from [`Tabs::poll_output`], and its only time output is
//! [`Tabs::next_deadline`], which the client core puts in its one timer table. It knows nothing
//! of the client core: the client routes [`TabsOutput`]s (posts on the bus, role changes).
//!
//! The Web Locks request itself belongs to the browser layer, which reports a granted lock
//! with [`Tabs::handle_lock_granted`].

pub mod clear;
pub mod codec;
pub mod election;
pub(super) mod hub;
mod share;

use std::collections::VecDeque;

pub use codec::{SharedState, TAB_PROTOCOL, TabBody, TabMessage, TabMessageError};
use election::{Election, ElectionAction};
use hub::Hub;
pub use share::{SHARE_COUNTS_MS, overlay};

use super::state::Role;

/// What the browser layer must do for the tabs (carried by the client core's actions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabAction {
    /// Post on the tab bus, to one tab or all.
    Post { to: Option<String>, body: TabBody },
    /// This tab just took the lead: load the shared outbox again, to drain what every tab
    /// left in it.
    ReloadStorage,
    /// This tab left (after the posts before this one): close the bus and release the lock.
    CloseBus,
    /// This tab holds the leader's lock in this term: keep the term in the origin's storage
    /// (see [`Tabs::handle_lock_granted`]).
    SaveTerm(u64),
    /// A logout at this time (Unix ms): keep it in the origin's storage, for tabs that do not
    /// hear the clear request (see [`clear`]).
    SaveClearMark(u64),
}

/// What the tabs part tells the client core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabsOutput {
    /// Something for the browser layer.
    Action(TabAction),
    /// This tab's role changed; the transport belongs to the role, so the client connects
    /// again. `dropped_emits`: emits of other tabs held by this tab, lost as it stopped leading.
    RoleChanged { role: Role, dropped_emits: usize },
    /// A follower's leader changed: link to the new one (not a failure).
    LeaderChanged,
}

/// This tab among the tabs of its origin.
#[derive(Debug)]
pub struct Tabs {
    me: String,
    role: Role,
    /// Leader: its follower tabs and what they wait for.
    pub(super) hub: Hub,
    election: Option<Election>,
    /// Follower: the latest copy of the leader's state.
    leader_view: Option<SharedState>,
    share: share::Share,
    /// Logout across tabs: this tab's requests, and the latest logout it obeyed.
    pub(crate) clears: clear::Clears,
    /// Leader: envelope frames for follower tabs (recipient, frame), at the end of an input.
    frames: Vec<(Option<String>, String)>,
    outputs: VecDeque<TabsOutput>,
}

impl Tabs {
    /// A tab with id `me`, alone (`Role::Solo`) until [`Tabs::start`].
    pub fn new(me: &str) -> Self {
        Self {
            me: me.to_owned(),
            role: Role::Solo,
            hub: Hub::default(),
            election: None,
            leader_view: None,
            share: share::Share::default(),
            clears: clear::Clears::default(),
            frames: Vec::new(),
            outputs: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// This tab's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The tab that leads, as far as this tab knows (itself when it leads).
    pub fn leader(&self) -> Option<&str> {
        self.election.as_ref().and_then(Election::leader)
    }

    /// The term of that leader (0 without an election).
    pub fn term(&self) -> u64 {
        self.election.as_ref().map_or(0, Election::term)
    }

    /// True when `from` leads in `term`, as far as this tab knows: a message a leader sends
    /// (its state, its frames) is used only then.
    pub fn is_leader(&self, from: &str, term: u64) -> bool {
        self.leader() == Some(from) && self.term() == term
    }

    /// Follower: the leader's latest state.
    pub fn leader_view(&self) -> Option<&SharedState> {
        self.leader_view.as_ref()
    }

    /// Number of follower tabs linked to this (leader) tab.
    pub fn linked_tabs(&self) -> usize {
        self.hub.tab_count()
    }

    /// The tabs linked to this (leader) tab.
    pub fn linked_tab_ids(&self) -> Vec<String> {
        self.hub.tab_ids()
    }

    // ----- outputs -----

    /// The next thing for the client core to route.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<TabsOutput> {
        self.outputs.pop_front()
    }

    /// When [`Tabs::handle_timeout`] must run: the election's deadline or a held-back share.
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        let election = self.election.as_ref().and_then(Election::poll_timeout);
        [election, self.share.due(), self.clears.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- inputs -----

    /// Joins the other tabs. `Some(locks)`: share one connection, electing a leader (through
    /// the Web Locks API when `locks`); `None`: this tab keeps its own connection.
    pub fn start(&mut self, now: u64, elect: Option<bool>) {
        match elect {
            Some(locks) => {
                self.set_role(Role::Pending);
                self.election = Some(Election::start(now, &self.me, locks));
                self.pump_election();
            }
            None => self.set_role(Role::Solo),
        }
    }

    /// Sets the role without an election (tests, and a tab that does not share).
    pub fn set_role(&mut self, role: Role) {
        if self.role == role {
            return;
        }
        let dropped_emits = if self.role == Role::Leader {
            self.hub.clear()
        } else {
            0
        };
        self.role = role;
        self.leader_view = None;
        self.outputs.push_back(TabsOutput::RoleChanged {
            role,
            dropped_emits,
        });
    }

    /// The Web Locks API granted this tab the lock: it leads, in a term above `stored` (the
    /// last term a lock holder saved, [`TabAction::SaveTerm`]) and any it heard of.
    pub fn handle_lock_granted(&mut self, now: u64, stored: u64) {
        if let Some(e) = self.election.as_mut() {
            e.lock_granted(now, stored);
        }
        self.pump_election();
    }

    /// Follower: the link to the leader got no answer in time: ask again who leads.
    pub fn handle_leader_silent(&mut self, now: u64) {
        if let Some(e) = self.election.as_mut() {
            e.leader_silent(now);
        }
        self.pump_election();
    }

    /// An election message (`who`, `leader`, `claim`, `bye`) from tab `from`.
    pub fn handle_election(&mut self, now: u64, from: &str, body: &TabBody) {
        if let Some(e) = self.election.as_mut() {
            e.handle(now, from, body);
        }
        self.pump_election();
    }

    /// A deadline passed: the election's, or a held-back share's (which the client's next
    /// share sends).
    pub fn handle_timeout(&mut self, now: u64) {
        if let Some(e) = self.election.as_mut() {
            e.handle_timeout(now);
        }
        self.clears.settle(now);
        self.pump_election();
    }

    /// This tab leaves (closing): says bye (a leader hands over), then the bus closes.
    pub fn leave(&mut self) {
        if let Some(e) = self.election.as_mut() {
            e.stop();
        } else {
            self.post(None, TabBody::Bye { term: 0 });
        }
        self.pump_election();
        self.election = None;
        self.outputs
            .push_back(TabsOutput::Action(TabAction::CloseBus));
    }

    /// Follower: the leader's state arrived (the caller checked it comes from the leader);
    /// false when this tab does not follow (it is ignored).
    pub fn handle_leader_state(&mut self, state: SharedState) -> bool {
        if self.role != Role::Follower {
            return false;
        }
        self.leader_view = Some(state);
        true
    }

    /// Leader: offers the connection's current state to the linked tabs; returns it when it
    /// must go out now (see [`SHARE_COUNTS_MS`]). `force`: a tab just linked.
    pub fn share(&mut self, now: u64, shared: SharedState, force: bool) -> Option<SharedState> {
        if self.role != Role::Leader {
            self.share.cancel();
            return None;
        }
        self.share.offer(now, shared, self.hub.tab_count(), force)
    }

    /// Not leading: nothing to share.
    pub fn stop_sharing(&mut self) {
        self.share.cancel();
    }

    /// Leader: an envelope frame for one follower tab, or all (`None`).
    pub fn queue_frame(&mut self, to: Option<String>, frame: String) {
        self.frames.push((to, frame));
    }

    /// The frames queued for tabs, in order.
    pub fn take_frames(&mut self) -> Vec<(Option<String>, String)> {
        std::mem::take(&mut self.frames)
    }

    fn post(&mut self, to: Option<String>, body: TabBody) {
        self.outputs
            .push_back(TabsOutput::Action(TabAction::Post { to, body }));
    }

    /// Turns what the election decided into outputs.
    fn pump_election(&mut self) {
        let actions = self
            .election
            .as_mut()
            .map(Election::take_actions)
            .unwrap_or_default();
        for action in actions {
            match action {
                ElectionAction::Post { to, body } => self.post(to, body),
                ElectionAction::Term(term) => self
                    .outputs
                    .push_back(TabsOutput::Action(TabAction::SaveTerm(term))),
                ElectionAction::Role { role, .. } if role == self.role => {
                    if role == Role::Follower {
                        self.leader_view = None;
                        self.outputs.push_back(TabsOutput::LeaderChanged);
                    }
                }
                ElectionAction::Role { role, .. } => {
                    if role == Role::Leader {
                        self.outputs
                            .push_back(TabsOutput::Action(TabAction::ReloadStorage));
                    }
                    self.set_role(role);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
