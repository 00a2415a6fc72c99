//! What the app sees of the connection.

use super::Connection;
use crate::core::state::Snapshot;

impl Connection {
    /// Copies what the app sees of the connection into `snap`.
    pub fn fill(&self, snap: &mut Snapshot) {
        snap.state = self.state;
        snap.online = self.online;
        snap.visible = self.visible;
        snap.attempt = self.failures;
        snap.reconnects = self.reconnects;
        snap.rtt_ms = self.rtt_ms;
        snap.session.clone_from(&self.session);
        snap.recovered = self.recovered;
        snap.missed_after.clone_from(&self.missed_after);
        snap.retry_at = self.reconnect_at;
    }
}
