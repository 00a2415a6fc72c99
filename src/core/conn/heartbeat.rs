//! The connection's heartbeat: the client's pings and pongs where it keeps the heartbeat,
//! the server's promise where the server does.

use super::{Connection, Phase};
use crate::core::error::ClientError;
use crate::protocol::{Heartbeat, Outbound};

impl Connection {
    pub(super) fn health_check(&mut self, now: u64) {
        if self.ping_sent_at.is_none() {
            self.send_ping(now);
        }
    }

    pub(super) fn send_ping(&mut self, now: u64) {
        if self.wire.heartbeat() != Heartbeat::ClientPings {
            // The server pings and the wire answers (a Socket.IO client's ping would end the
            // session); the period still paces the leader's sweep of silent tabs.
            self.ping_at = Some(now.saturating_add(self.config.heartbeat_interval_ms));
            return;
        }
        self.ping_sent_at = Some(now);
        self.ping_at = None;
        self.pong_deadline = Some(now.saturating_add(self.config.heartbeat_timeout_ms));
        self.send(Outbound::Ping { ts: now });
    }

    pub(super) fn pong_deadline(&mut self, now: u64) {
        if self.wire.heartbeat() != Heartbeat::ClientPings {
            // No frame, not even the server's ping, within the time the server promised.
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
            self.ping_at = Some(now.saturating_add(self.config.heartbeat_interval_ms));
        } else {
            self.lose(now, ClientError::HeartbeatTimeout);
        }
    }

    /// Where the server keeps the heartbeat, any frame means alive for as long again as it
    /// promised.
    pub(super) fn server_alive(&mut self, now: u64) {
        if let Heartbeat::ServerPings {
            liveness_ms: Some(liveness),
        } = self.wire.heartbeat()
        {
            if self.phase != Phase::Down {
                self.pong_deadline = Some(now.saturating_add(liveness));
            }
        }
    }
}
