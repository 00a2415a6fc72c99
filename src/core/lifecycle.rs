//! The browser's inputs about the connection (auth answers, socket events, network and page
//! signals, the timer), passed to the connection part, and what the other parts do when the
//! connection opens or is lost.

use super::client::{ClientCore, Event};
use super::conn::ConnOutput;
use super::state::Role;
use super::timer::Timer;

impl ClientCore {
    /// The app's `auth` callback answered for `attempt`: a token (or none), or a failure.
    pub fn handle_auth(&mut self, now: u64, attempt: u64, result: Result<Option<String>, String>) {
        self.conn.handle_auth(now, attempt, result);
        self.finish(now);
    }

    /// The socket of `attempt` opened: introduce ourselves.
    pub fn handle_socket_open(&mut self, now: u64, attempt: u64) {
        self.conn.handle_socket_open(now, attempt);
        self.finish(now);
    }

    /// The socket of `attempt` closed (or could not be created).
    pub fn handle_socket_closed(&mut self, now: u64, attempt: u64, code: u16, reason: &str) {
        self.conn.handle_socket_closed(now, attempt, code, reason);
        self.finish(now);
    }

    /// The socket of `attempt` could not even be created (bad URL, blocked port).
    pub fn handle_socket_failed(&mut self, now: u64, attempt: u64, message: String) {
        self.conn.handle_socket_failed(now, attempt, message);
        self.finish(now);
    }

    /// The browser's network status changed (`online`/`offline` events, `navigator.onLine`).
    pub fn set_online(&mut self, now: u64, online: bool) {
        self.conn.set_online(now, online);
        self.finish(now);
    }

    /// The page became visible or hidden (`visibilitychange`).
    pub fn set_visible(&mut self, now: u64, visible: bool) {
        self.conn.set_visible(now, visible);
        self.finish(now);
    }

    /// A timer deadline passed: each part whose deadline it was gets it.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.timers.expire(Timer::Connection, now) {
            self.conn.handle_timeout(now);
        }
        if self.timers.expire(Timer::Outbox, now) {
            let wall = self.wall(now);
            let rng = &mut self.rng;
            self.outbox.handle_timeout(now, wall, || rng.next_u64());
        }
        if self.timers.expire(Timer::Messaging, now) {
            let (messages, failed) = self.messaging.handle_timeout(now, self.is_open());
            self.send_batched(messages);
            for f in failed {
                self.report_failure(f.message, f.error);
            }
        }
        if self.timers.expire(Timer::Tabs, now) {
            self.tabs_timeout(now);
        }
        self.finish(now);
    }

    /// What the connection part reported, for the other parts.
    pub(super) fn route_connection(&mut self, now: u64, output: ConnOutput) {
        match output {
            ConnOutput::Opened => self.on_open(now),
            ConnOutput::Lost { failure } => self.on_lost(now, failure),
            ConnOutput::Error(error) => self.report_error(error),
            ConnOutput::Rtt(rtt) => self.metrics.rtt.push(rtt),
            ConnOutput::Gap { last_offset } => self.events.push_back(Event::Gap { last_offset }),
            ConnOutput::Beat => {
                if self.role() == Role::Leader {
                    self.sweep_silent_tabs(now);
                }
            }
            ConnOutput::Action(action) => self.actions.push_back(action),
        }
    }

    /// The server welcomed us: resubscribe (resuming where each channel stopped), then send
    /// what waited.
    fn on_open(&mut self, now: u64) {
        let mut messages = self.messaging.resume_points();
        if self.role() == Role::Leader {
            messages.extend(self.hub_on_open());
        }
        messages.extend(self.messaging.handle_open(now));
        self.send_batched(messages);
    }

    /// The connection is gone: what waited for an answer fails or waits for the next one,
    /// the outbox sends its window again later, and the tabs' forwarded messages are settled.
    fn on_lost(&mut self, now: u64, failure: bool) {
        for failed in self.messaging.handle_connection_lost() {
            self.report_failure(failed.message, failed.error);
        }
        // Entries sent over HTTP do not travel on the socket that went.
        if !self.sends_over_http() {
            self.outbox.connection_lost(now);
        }
        let outbox = &self.outbox;
        self.tabs
            .hub
            .connection_lost(|id| failure && outbox.contains(id));
        self.link_lost(now, failure);
    }
}
