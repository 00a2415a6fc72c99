//! The leader tab's hub: the other tabs of the origin reach the server through it.
//!
//! Each follower tab runs a full client whose "socket" is a link over the tab bus to the
//! leader, speaking the envelope protocol. The hub is the leader's side of those links: it
//! answers hellos and pings itself, subscribes the leader's connection to what tabs want,
//! forwards their requests and memory-only publishes, adopts their durable publishes into
//! the leader's outbox, and routes every answer back to the tab that is owed it. Events go
//! once to all tabs (a broadcast), and each tab's own router keeps what it subscribed to.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::protocol::envelope::ClientMessage;

/// Most messages from tabs held while the leader's connection is not open.
const QUEUE_LIMIT: usize = 1_000;

#[derive(Debug, Default)]
struct Fan {
    /// Subscriptions per tab on this channel.
    tabs: HashMap<String, u32>,
    /// Highest sequence seen, to resume after the leader reconnects.
    last_seq: Option<u64>,
}

/// What the leader knows about its follower tabs.
#[derive(Debug, Default)]
pub struct Hub {
    /// Tabs with a link, and when each was last heard from.
    tabs: HashMap<String, u64>,
    channels: BTreeMap<String, Fan>,
    /// Answers (`ack`, `nack`, `res`) owed to tabs, by message id.
    owed: HashMap<String, String>,
    /// Messages from tabs that wait for the leader's connection.
    queued: VecDeque<ClientMessage>,
}

impl Hub {
    /// A tab linked (said hello) at `now`.
    pub fn link(&mut self, tab: &str, now: u64) {
        self.tabs.insert(tab.to_owned(), now);
    }

    /// A linked tab spoke at `now`; false when the tab never linked.
    pub fn heard(&mut self, tab: &str, now: u64) -> bool {
        match self.tabs.get_mut(tab) {
            Some(seen) => {
                *seen = now;
                true
            }
            None => false,
        }
    }

    /// The linked tabs.
    pub fn tab_ids(&self) -> Vec<String> {
        self.tabs.keys().cloned().collect()
    }

    /// Drops the held messages from tabs that publish (logout); returns how many.
    pub fn drop_held_publishes(&mut self) -> usize {
        let before = self.queued.len();
        let owed = &mut self.owed;
        self.queued.retain(|m| match m {
            ClientMessage::Publish { id, .. } => {
                owed.remove(id);
                false
            }
            _ => true,
        });
        before - self.queued.len()
    }

    /// Number of linked tabs.
    pub fn tab_count(&self) -> usize {
        self.tabs.len()
    }

    /// True when some tab subscribes to `channel`.
    pub fn has_channel(&self, channel: &str) -> bool {
        self.channels.contains_key(channel)
    }

    /// Records the highest sequence forwarded on `channel`.
    pub fn saw(&mut self, channel: &str, seq: u64) {
        if let Some(fan) = self.channels.get_mut(channel) {
            fan.last_seq = Some(fan.last_seq.map_or(seq, |s| s.max(seq)));
        }
    }

    /// A tab subscribes. The server is always asked (again): a `since` makes it replay what
    /// that tab missed, and its `subscribed` answer tells the tab the channel is live.
    pub fn subscribe(&mut self, tab: &str, channel: &str, since: Option<u64>) -> ClientMessage {
        *self
            .channels
            .entry(channel.to_owned())
            .or_default()
            .tabs
            .entry(tab.to_owned())
            .or_default() += 1;
        ClientMessage::Subscribe {
            channel: channel.to_owned(),
            since,
        }
    }

    /// A tab unsubscribes; true when no tab is left on the channel.
    pub fn unsubscribe(&mut self, tab: &str, channel: &str) -> bool {
        let Some(fan) = self.channels.get_mut(channel) else {
            return false;
        };
        if let Some(count) = fan.tabs.get_mut(tab) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                fan.tabs.remove(tab);
            }
        }
        if fan.tabs.is_empty() {
            self.channels.remove(channel);
            return true;
        }
        false
    }

    /// A tab is gone (said bye, or went silent): forgets it. Returns the channels that no
    /// tab subscribes to any more.
    pub fn remove_tab(&mut self, tab: &str) -> Vec<String> {
        self.tabs.remove(tab);
        self.owed.retain(|_, t| t != tab);
        let mut emptied = Vec::new();
        self.channels.retain(|channel, fan| {
            fan.tabs.remove(tab);
            if fan.tabs.is_empty() {
                emptied.push(channel.clone());
                false
            } else {
                true
            }
        });
        emptied
    }

    /// Tabs not heard from since `before`.
    pub fn silent_tabs(&self, before: u64) -> Vec<String> {
        self.tabs
            .iter()
            .filter(|(_, seen)| **seen < before)
            .map(|(tab, _)| tab.clone())
            .collect()
    }

    /// The answer for `id` is owed to `tab`.
    pub fn owe(&mut self, id: &str, tab: &str) {
        self.owed.insert(id.to_owned(), tab.to_owned());
    }

    /// Who is owed the answer for `id` (and forget it).
    pub fn take_owed(&mut self, id: &str) -> Option<String> {
        self.owed.remove(id)
    }

    /// The connection dropped: answers for forwarded requests and memory-only publishes will
    /// not come (the tabs time out and retry); those for adopted outbox entries still will.
    pub fn connection_lost(&mut self, keep: impl Fn(&str) -> bool) {
        self.owed.retain(|id, _| keep(id));
    }

    /// Holds a tab's message until the connection opens; false when the queue is full.
    pub fn queue(&mut self, message: ClientMessage) -> bool {
        if self.queued.len() >= QUEUE_LIMIT {
            return false;
        }
        self.queued.push_back(message);
        true
    }

    /// The connection opened: subscriptions to resume (channel, since) and held messages.
    pub fn on_open(&mut self) -> (Vec<(String, Option<u64>)>, Vec<ClientMessage>) {
        let resume = self
            .channels
            .iter()
            .map(|(channel, fan)| (channel.clone(), fan.last_seq))
            .collect();
        (resume, self.queued.drain(..).collect())
    }

    /// Forgets everything (this tab stopped leading); returns how many held emits (which
    /// have no answer to fail) were dropped with it.
    pub fn clear(&mut self) -> usize {
        let emits = self
            .queued
            .iter()
            .filter(|m| matches!(m, ClientMessage::Emit { .. }))
            .count();
        *self = Self::default();
        emits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_counted_per_tab_and_released_with_the_tab() {
        let mut hub = Hub::default();
        hub.subscribe("a", "scores", None);
        hub.subscribe("a", "scores", None);
        hub.subscribe("b", "scores", Some(4));
        hub.subscribe("b", "chat", None);
        assert!(!hub.unsubscribe("a", "scores"));
        assert!(!hub.unsubscribe("a", "scores"), "b still listens");
        hub.owe("r1", "b");
        hub.owe("r2", "a");
        let emptied = hub.remove_tab("b");
        assert_eq!(emptied, vec!["chat".to_owned(), "scores".to_owned()]);
        assert_eq!(hub.take_owed("r1"), None, "nothing is owed to a gone tab");
        assert_eq!(hub.take_owed("r2"), Some("a".to_owned()));
    }

    #[test]
    fn resumes_each_channel_where_it_stopped_and_bounds_the_queue() {
        let mut hub = Hub::default();
        hub.subscribe("a", "c", None);
        hub.saw("c", 7);
        hub.saw("c", 5);
        for n in 0..QUEUE_LIMIT {
            assert!(hub.queue(ClientMessage::Ping { ts: n as u64 }));
        }
        assert!(!hub.queue(ClientMessage::Ping { ts: 0 }));
        let (resume, held) = hub.on_open();
        assert_eq!(resume, vec![("c".to_owned(), Some(7))]);
        assert_eq!(held.len(), QUEUE_LIMIT);
        assert!(hub.on_open().1.is_empty());
    }

    #[test]
    fn silent_tabs_are_found() {
        let mut hub = Hub::default();
        hub.link("a", 100);
        hub.link("b", 500);
        assert!(hub.heard("b", 500) && !hub.heard("c", 1));
        assert_eq!(hub.silent_tabs(300), vec!["a".to_owned()]);
    }
}
