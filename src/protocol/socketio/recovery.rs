//! Socket.IO's connection state recovery, as the client keeps it: the session id (`pid`) and
//! the offset of the last event, sent back in CONNECT; whether the server took the session
//! up again; and, after a replay by the server helper, the events already delivered.

use std::collections::HashSet;

use crate::protocol::message::Resumption;

/// Offsets remembered while a replay runs, at most (older ones are forgotten).
const MAX_SEEN: usize = 100_000;

/// A Redis stream entry id, `ms-seq`, which orders events (other offsets do not).
pub(super) fn stream_id(offset: &str) -> Option<(u64, u64)> {
    let (ms, seq) = offset.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// What the client knows of its session with the server, across sockets.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The session id the server gave (only servers with connection state recovery do).
    pid: Option<String>,
    /// The offset of the last event received.
    offset: Option<String>,
    /// What the last CONNECT asked to take up.
    asked: Option<(String, Option<String>)>,
    /// The latest stream id delivered: a replayed or re-sent event at or before it is a duplicate.
    newest: Option<(u64, u64)>,
    /// While the server helper replays: the offsets delivered since it began.
    replaying: Option<HashSet<String>>,
}

impl Recovery {
    /// True when the server recovers sessions (it gave a session id): its broadcasts then end
    /// with their offset.
    pub fn enabled(&self) -> bool {
        self.pid.is_some()
    }

    /// The session id and offset for the CONNECT of a new socket.
    pub fn ask(&mut self) -> (Option<&str>, Option<&str>) {
        self.asked = self.pid.clone().map(|pid| (pid, self.offset.clone()));
        (self.pid.as_deref(), self.offset.as_deref())
    }

    /// The server's CONNECT answer named session `pid`: was the previous one taken up?
    pub fn connected(&mut self, pid: Option<String>) -> Resumption {
        let resumed = match (self.asked.take(), &pid) {
            (Some((old, _)), Some(new)) if old == *new => Resumption::Recovered,
            (Some((_, last_offset)), _) => Resumption::Lost { last_offset },
            (None, _) => Resumption::Fresh,
        };
        self.pid = pid;
        resumed
    }

    /// A replay by the server helper begins.
    pub fn replay_started(&mut self) {
        self.replaying = Some(HashSet::new());
    }

    /// True while the server helper replays.
    pub fn replaying(&self) -> bool {
        self.replaying.is_some()
    }

    /// The server helper has replayed everything.
    pub fn replay_done(&mut self) {
        self.replaying = None;
    }

    /// An event with this offset arrived; false when it was delivered already.
    pub fn arrived(&mut self, offset: String) -> bool {
        let id = stream_id(&offset);
        if let Some(seen) = &mut self.replaying {
            if seen.contains(&offset) {
                return false;
            }
            if seen.len() < MAX_SEEN {
                seen.insert(offset.clone());
            }
        } else if let (Some(id), Some(newest)) = (id, self.newest) {
            if id <= newest {
                return false;
            }
        }
        match (id, self.newest) {
            (Some(id), Some(newest)) if id < newest => {}
            (Some(id), _) => {
                self.newest = Some(id);
                self.offset = Some(offset);
            }
            (None, _) => self.offset = Some(offset),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_session_back_is_recovered_another_is_lost_with_the_last_offset() {
        let mut r = Recovery::default();
        assert_eq!(r.ask(), (None, None));
        assert_eq!(r.connected(Some("p1".into())), Resumption::Fresh);
        assert!(r.enabled());
        assert_eq!(r.ask(), (Some("p1"), None));
        assert_eq!(
            r.connected(Some("p2".into())),
            Resumption::Lost { last_offset: None },
            "no event seen yet: nothing to recover from"
        );
        assert!(r.arrived("5-0".into()));
        assert_eq!(r.ask(), (Some("p2"), Some("5-0")));
        assert_eq!(r.connected(Some("p2".into())), Resumption::Recovered);
        assert_eq!(r.ask(), (Some("p2"), Some("5-0")));
        assert_eq!(
            r.connected(Some("p3".into())),
            Resumption::Lost {
                last_offset: Some("5-0".into())
            }
        );
    }

    #[test]
    fn stream_offsets_drop_what_was_delivered_and_a_replay_may_interleave() {
        let mut r = Recovery::default();
        assert!(r.arrived("10-0".into()));
        assert!(!r.arrived("10-0".into()), "again: a duplicate");
        assert!(!r.arrived("9-5".into()), "older: a duplicate");
        r.replay_started();
        assert!(r.arrived("12-0".into()), "a live event during the replay");
        assert!(
            r.arrived("11-0".into()),
            "a replayed one, older but not seen"
        );
        assert!(!r.arrived("12-0".into()), "the live one replayed again");
        r.replay_done();
        assert!(!r.arrived("11-3".into()));
        assert!(r.arrived("12-1".into()));
        assert_eq!(r.ask().1, Some("12-1"));
    }

    #[test]
    fn other_offsets_are_kept_but_not_compared() {
        let mut r = Recovery::default();
        assert!(r.arrived("NcXf2".into()));
        assert!(r.arrived("NcXf1".into()));
        assert_eq!(r.offset.as_deref(), Some("NcXf1"));
    }
}
