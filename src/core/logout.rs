//! Logout as an operation of every tab ([`ClientCore::clear_all_tabs`]): the asking tab clears
//! itself and the shared storage, asks every tab to clear, and hears when the leader and every
//! tab known to it obeyed (see [`super::tabs::clear`]). Nothing made before the logout reaches
//! the server afterwards: live tabs clear before they answer, and the time of the logout (the
//! mark) stays in the origin's storage for the tabs that were not reachable, which obey it
//! when they next hear of it; a leader refuses entries made before it.

use std::collections::BTreeSet;

use super::client::{Action, ClientCore, Event};
use super::error::RequestError;
use super::state::Role;
use super::tabs::{TabAction, TabBody};

impl ClientCore {
    /// Logout, asked in this tab: forgets every unsent publish and dead letter here and in the
    /// shared storage, then asks every tab to do the same. [`Event::ClearDone`] with `id` tells
    /// when the leader and every tab known to it have (or which did not answer in time).
    /// Returns how many entries this tab dropped.
    pub fn clear_all_tabs(&mut self, now: u64, id: String) -> usize {
        let at = self.wall(now);
        let dropped = self.clear_here(None);
        self.tabs.clears.raise_mark(at);
        self.actions
            .push_back(Action::Tab(TabAction::SaveClearMark(at)));
        let waiting: BTreeSet<String> = match self.role() {
            Role::Follower => self.tabs.leader().map(str::to_owned).into_iter().collect(),
            Role::Leader => self.tabs.linked_tab_ids().into_iter().collect(),
            Role::Solo | Role::Pending => BTreeSet::new(),
        };
        self.tab_post(None, TabBody::Clear { id: id.clone(), at });
        self.tabs.clears.start(now, id, waiting, dropped as u64);
        self.report_clears();
        self.finish(now);
        dropped
    }

    /// Logout in this tab only: forgets every outbox entry and dead letter, in memory and in
    /// the shared storage (other tabs' entries too), rolls back unconfirmed document changes,
    /// and fails the publishes still waiting with kind "cleared". Returns how many entries
    /// were dropped.
    pub fn clear_local_data(&mut self, now: u64) -> usize {
        let dropped = self.clear_here(None);
        self.finish(now);
        dropped
    }

    /// Another tab logged out at `at` (Unix ms) and asks this one to clear (request `id`):
    /// it drops everything it holds, then answers.
    pub(super) fn handle_clear_request(&mut self, now: u64, from: &str, id: String, at: u64) {
        self.tabs.clears.raise_mark(at);
        let dropped = self.clear_here(Some(u64::MAX)) as u64;
        let tabs = if self.role() == Role::Leader {
            let mut tabs = self.tabs.linked_tab_ids();
            tabs.retain(|t| t != from);
            tabs
        } else {
            Vec::new()
        };
        self.tab_post(
            Some(from.to_owned()),
            TabBody::Cleared { id, dropped, tabs },
        );
        self.finish(now);
    }

    /// Tab `from` obeyed this tab's clear request `id`.
    pub(super) fn handle_cleared(
        &mut self,
        now: u64,
        from: &str,
        id: &str,
        dropped: u64,
        tabs: &[String],
    ) {
        let me = self.config.tab_id.clone();
        self.tabs.clears.answered(now, &me, from, id, dropped, tabs);
        self.report_clears();
        self.finish(now);
    }

    /// The origin's storage says the latest logout was at `at` (read at start, when another
    /// tab wrote it, or when this page comes back): entries made until then are dropped if
    /// this tab had not heard of it.
    pub fn handle_clear_mark(&mut self, now: u64, at: u64) {
        if self.tabs.clears.raise_mark(at) {
            self.clear_here(Some(at));
        }
        self.finish(now);
    }

    /// Leader: a tab sent an entry made before a logout it missed: remind it.
    pub(super) fn remind_clear(&mut self, tab: &str) {
        let at = self.tabs.clears.mark();
        let id = "mark".to_owned();
        self.tab_post(Some(tab.to_owned()), TabBody::Clear { id, at });
    }

    /// Drops the entries (made until `until`, Unix ms; `None`: all, emptying the shared
    /// storage too) and the tabs' held publishes; returns how many entries were this tab's
    /// own (those held for a linked tab are that tab's to count).
    fn clear_here(&mut self, until: Option<u64>) -> usize {
        let dropped = match until {
            None => self.outbox.clear(),
            Some(until) => self.outbox.forget_until(until),
        };
        self.tabs.hub.drop_held_publishes();
        let mut own = 0;
        for (id, waiting) in dropped {
            self.docs.rollback(&id);
            match self.tabs.hub.take_owed(&id) {
                Some(_) => {}
                None => own += 1,
            }
            if waiting {
                self.events.push_back(Event::PublishDone {
                    id,
                    result: Err(RequestError::Cleared),
                });
            }
        }
        own
    }

    fn tab_post(&mut self, to: Option<String>, body: TabBody) {
        self.actions
            .push_back(Action::Tab(TabAction::Post { to, body }));
    }

    /// Reports the clear requests that ended.
    pub(super) fn report_clears(&mut self) {
        for outcome in self.tabs.clears.take_done() {
            self.events.push_back(Event::ClearDone(outcome));
        }
    }
}
