//! The connection's life: attempts, backoff, heartbeat, network and visibility signals.

use super::client::{Action, ClientCore, Phase};
use super::error::ClientError;
use super::state::{ConnectionState, Role};
use super::timer::Timer;
use crate::protocol::envelope::ClientMessage;

impl ClientCore {
    /// The app's `auth` callback answered for `attempt`: a token (or none), or a failure.
    pub fn handle_auth(&mut self, now: u64, attempt: u64, result: Result<Option<String>, String>) {
        if attempt == self.attempt_id && self.phase == Phase::Auth {
            match result {
                Ok(token) => {
                    self.token = token;
                    self.phase = Phase::Socket;
                    self.push_action(Action::OpenSocket {
                        attempt,
                        url: self.config.url.clone(),
                    });
                }
                Err(message) => self.lose(now, ClientError::AuthCallback(message)),
            }
        }
        self.finish(now);
    }

    /// The socket of `attempt` opened: introduce ourselves.
    pub fn handle_socket_open(&mut self, now: u64, attempt: u64) {
        if attempt == self.attempt_id && self.phase == Phase::Socket {
            self.phase = Phase::Hello;
            self.last_rx = now;
            self.send(ClientMessage::Hello {
                client: self.config.client_id.clone(),
                token: self.token.clone(),
            });
        }
        self.finish(now);
    }

    /// The socket of `attempt` closed (or could not be created).
    pub fn handle_socket_closed(&mut self, now: u64, attempt: u64, code: u16, reason: &str) {
        if attempt == self.attempt_id && self.phase != Phase::Down {
            self.lose(
                now,
                ClientError::SocketClosed {
                    code,
                    reason: reason.to_owned(),
                },
            );
        }
        self.finish(now);
    }

    /// The socket of `attempt` could not even be created (bad URL, blocked port).
    pub fn handle_socket_failed(&mut self, now: u64, attempt: u64, message: String) {
        if attempt == self.attempt_id && self.phase != Phase::Down {
            self.lose(now, ClientError::SocketOpen(message));
        }
        self.finish(now);
    }

    /// The browser's network status changed (`online`/`offline` events, `navigator.onLine`).
    pub fn set_online(&mut self, now: u64, online: bool) {
        self.snap.online = online;
        match (online, self.phase) {
            // Back online: the first retry is immediate.
            (true, Phase::Down) if self.want_open => self.attempt_now(now),
            (false, Phase::Down) if self.want_open => {
                self.timers.stop(Timer::Reconnect);
                self.set_state(ConnectionState::Offline);
            }
            (false, Phase::Auth | Phase::Socket | Phase::Hello) => {
                self.drop_socket(1000, "offline");
                self.timers.stop(Timer::ConnectDeadline);
                self.set_state(ConnectionState::Offline);
            }
            // The browser's word is not proof: ask the server whether the socket still works.
            (false, Phase::Open) => self.health_check(now),
            _ => {}
        }
        self.finish(now);
    }

    /// The page became visible or hidden (`visibilitychange`).
    pub fn set_visible(&mut self, now: u64, visible: bool) {
        self.snap.visible = visible;
        if visible {
            match self.phase {
                Phase::Open => self.health_check(now),
                Phase::Down if self.want_open && self.snap.online => self.attempt_now(now),
                _ => {}
            }
        }
        self.finish(now);
    }

    /// A timer deadline passed.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.timers.expire(Timer::Reconnect, now) {
            self.attempt_now(now);
        }
        if self.timers.expire(Timer::ConnectDeadline, now) && self.phase != Phase::Down {
            self.lose(now, ClientError::ConnectTimeout);
        }
        if self.timers.expire(Timer::Ping, now) && self.phase == Phase::Open {
            self.send_ping(now);
            if self.role() == Role::Leader {
                self.sweep_silent_tabs(now);
            }
        }
        if self.timers.expire(Timer::PongDeadline, now) {
            self.pong_deadline(now);
        }
        if self.timers.expire(Timer::Outbox, now) {
            let wall = self.wall(now);
            let rng = &mut self.rng;
            let timed_out = self.outbox.expire(now, wall, || rng.next_u64());
            // Acks lost from one window time out together: one failure, not one per entry.
            if timed_out > 0 {
                self.breaker.failure(now);
            }
        }
        if self.timers.expire(Timer::Paced, now) {
            self.release_paced(now);
        }
        if self.timers.expire(Timer::Tabs, now) {
            self.tabs_timeout(now);
        }
        if self.timers.expire(Timer::Pending, now) {
            let (frames, failed) = self.pending.expire(now, self.is_open());
            self.send_batched(frames);
            for f in failed {
                self.report_failure(f.message, f.error);
            }
        }
        self.finish(now);
    }

    /// Starts a connection attempt now (or waits offline when the browser is offline).
    pub(super) fn attempt_now(&mut self, now: u64) {
        self.timers.stop(Timer::Reconnect);
        if self.role() == Role::Pending {
            // Nothing to connect to until the election says whether this tab leads.
            self.set_state(ConnectionState::Connecting);
            return;
        }
        // A follower's link is to a tab of this browser: the network's state does not matter.
        if !self.snap.online && self.role() != Role::Follower {
            self.set_state(ConnectionState::Offline);
            return;
        }
        self.attempt_id += 1;
        let attempt = self.attempt_id;
        self.timers.set(
            Timer::ConnectDeadline,
            now.saturating_add(self.config.connect_timeout_ms),
        );
        self.set_state(ConnectionState::Connecting);
        // Credentials are for the server; a follower's link to its leader carries none.
        if self.config.use_auth && self.role() != Role::Follower {
            self.phase = Phase::Auth;
            self.push_action(Action::RequestAuth { attempt });
        } else {
            self.phase = Phase::Socket;
            self.push_action(Action::OpenSocket {
                attempt,
                url: self.config.url.clone(),
            });
        }
    }

    /// The server welcomed us: the connection is open.
    pub(super) fn on_welcome(&mut self, now: u64, session: String) {
        if self.phase != Phase::Hello {
            return;
        }
        self.phase = Phase::Open;
        self.timers.stop(Timer::ConnectDeadline);
        if self.was_open {
            self.snap.reconnects += 1;
        }
        self.was_open = true;
        self.snap.attempt = 0;
        self.snap.session = Some(session);
        self.set_state(ConnectionState::Open);
        // A first ping at once: the round-trip time is known from the start, and a connection
        // that opened but does not carry is found within the pong timeout.
        self.ping_sent_at = None;
        self.send_ping(now);
        // Resubscribe (resuming where each channel stopped), then flush what waited.
        let mut frames: Vec<String> = self
            .router
            .resume_points()
            .map(|(channel, since)| {
                ClientMessage::Subscribe {
                    channel: channel.to_owned(),
                    since,
                }
                .encode()
            })
            .collect();
        if self.role() == Role::Leader {
            frames.extend(self.hub_on_open());
        }
        frames.extend(self.pending.take_unsent(now));
        frames.extend(self.held_emits.drain(..));
        self.send_batched(frames);
    }

    /// The connection (or the attempt) is gone: report, fail or requeue, and plan the next try.
    pub(super) fn lose(&mut self, now: u64, error: ClientError) {
        self.drop_socket(1000, "");
        self.report_error(error);
        for failed in self.pending.connection_lost() {
            self.report_failure(failed.message, failed.error);
        }
        self.outbox.connection_lost(now);
        self.breaker.connection_lost();
        let outbox = &self.outbox;
        self.tabs.hub.connection_lost(|id| outbox.contains(id));
        self.schedule_retry(now);
    }

    /// Forgets the current socket (asking the browser to close it) and its timers.
    pub(super) fn drop_socket(&mut self, code: u16, reason: &'static str) {
        if self.phase != Phase::Down {
            self.push_action(Action::CloseSocket {
                attempt: self.attempt_id,
                code,
                reason,
            });
        }
        self.phase = Phase::Down;
        self.sio.reset();
        self.ping_sent_at = None;
        self.timers.stop(Timer::ConnectDeadline);
        self.timers.stop(Timer::Ping);
        self.timers.stop(Timer::PongDeadline);
        self.snap.session = None;
    }

    fn schedule_retry(&mut self, now: u64) {
        if !self.want_open {
            self.set_state(ConnectionState::Closed);
        } else if !self.snap.online {
            self.set_state(ConnectionState::Offline);
        } else {
            let random = self.rng.next_u64();
            let delay = self.config.reconnect.delay(self.snap.attempt, random);
            self.snap.attempt = self.snap.attempt.saturating_add(1);
            self.timers.set(Timer::Reconnect, now.saturating_add(delay));
            self.set_state(ConnectionState::Waiting);
        }
    }

    fn health_check(&mut self, now: u64) {
        if self.ping_sent_at.is_none() {
            self.send_ping(now);
        }
    }

    fn send_ping(&mut self, now: u64) {
        if self.sio_active() {
            // Socket.IO servers ping and the client only answers (a client ping ends the
            // session); the timer still paces the leader's sweep of silent tabs.
            self.timers.set(
                Timer::Ping,
                now.saturating_add(self.config.heartbeat_interval_ms),
            );
            return;
        }
        self.ping_sent_at = Some(now);
        self.timers.stop(Timer::Ping);
        self.timers.set(
            Timer::PongDeadline,
            now.saturating_add(self.config.heartbeat_timeout_ms),
        );
        self.send(ClientMessage::Ping { ts: now });
    }

    /// A pong (or, failing that, any frame after the ping) proves the connection alive.
    pub(super) fn on_pong(&mut self, now: u64, ts: u64) {
        if self.ping_sent_at != Some(ts) || self.phase != Phase::Open {
            return;
        }
        let rtt = now.saturating_sub(ts);
        self.snap.rtt_ms = Some(rtt);
        self.metrics.rtt.push(rtt);
        self.ping_sent_at = None;
        self.timers.stop(Timer::PongDeadline);
        self.timers.set(
            Timer::Ping,
            ts.saturating_add(self.config.heartbeat_interval_ms),
        );
    }

    fn pong_deadline(&mut self, now: u64) {
        if self.sio_active() {
            // No frame, not even the server's ping, within pingInterval + pingTimeout.
            if self.phase != Phase::Down {
                self.lose(now, ClientError::HeartbeatTimeout);
            }
            return;
        }
        let Some(sent) = self.ping_sent_at else {
            return;
        };
        if self.phase == Phase::Open && self.last_rx > sent {
            // Frames are flowing, just not the pong yet (a busy socket): alive.
            self.ping_sent_at = None;
            self.timers.set(
                Timer::Ping,
                now.saturating_add(self.config.heartbeat_interval_ms),
            );
        } else {
            self.lose(now, ClientError::HeartbeatTimeout);
        }
    }
}
