//! Subscriptions: which handlers want which channel and event, in what order, and where each
//! channel's stream has got to (for duplicate drop and `since` recovery).

use std::collections::BTreeMap;

/// Handle of one subscription; the browser adapter maps it to a JS function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubId(pub u32);

#[derive(Debug, Clone)]
struct Subscription {
    id: SubId,
    channel: String,
    event: Option<String>,
    priority: i32,
}

/// A subscribed channel's position in its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelState {
    /// Live subscriptions on the channel.
    pub subscribers: u32,
    /// Highest sequence received (or the head reported when the subscription went live).
    pub last_seq: Option<u64>,
}

/// What an incoming sequence number means for its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// New: deliver it.
    Fresh,
    /// Already seen (a replay overlapping live events): drop it.
    Duplicate,
    /// Nobody subscribes to the channel (any more).
    Unsubscribed,
}

/// Subscriptions ordered by priority, and per-channel stream positions.
#[derive(Debug, Default)]
pub struct Router {
    subs: Vec<Subscription>,
    channels: BTreeMap<String, ChannelState>,
    next_id: u32,
}

impl Router {
    /// Adds a subscription. Returns its id, and `true` when it is the channel's first.
    ///
    /// `since` only matters for a channel's first subscription: it is where the stream resumes.
    pub fn add(
        &mut self,
        channel: &str,
        event: Option<&str>,
        priority: i32,
        since: Option<u64>,
    ) -> (SubId, bool) {
        self.next_id = self.next_id.wrapping_add(1);
        let id = SubId(self.next_id);
        // Keep higher priorities first and, within a priority, the order of subscription.
        let at = self.subs.partition_point(|s| s.priority >= priority);
        self.subs.insert(
            at,
            Subscription {
                id,
                channel: channel.to_owned(),
                event: event.map(str::to_owned),
                priority,
            },
        );
        let state = self.channels.entry(channel.to_owned()).or_default();
        state.subscribers += 1;
        let first = state.subscribers == 1;
        if first {
            state.last_seq = since;
        }
        (id, first)
    }

    /// Removes a subscription. Returns the channel's name when it has no subscriber left.
    pub fn remove(&mut self, id: SubId) -> Option<String> {
        let index = self.subs.iter().position(|s| s.id == id)?;
        let sub = self.subs.remove(index);
        let state = self.channels.get_mut(&sub.channel)?;
        state.subscribers = state.subscribers.saturating_sub(1);
        if state.subscribers == 0 {
            self.channels.remove(&sub.channel);
            return Some(sub.channel);
        }
        None
    }

    /// The subscriptions an event goes to, highest priority first.
    pub fn route(&self, channel: &str, event: &str) -> Vec<SubId> {
        self.subs
            .iter()
            .filter(|s| s.channel == channel && s.event.as_deref().is_none_or(|e| e == event))
            .map(|s| s.id)
            .collect()
    }

    /// Records an incoming sequence number and says whether to deliver its event.
    pub fn accept_seq(&mut self, channel: &str, seq: u64) -> SeqCheck {
        let Some(state) = self.channels.get_mut(channel) else {
            return SeqCheck::Unsubscribed;
        };
        match state.last_seq {
            Some(last) if seq <= last => SeqCheck::Duplicate,
            _ => {
                state.last_seq = Some(seq);
                SeqCheck::Fresh
            }
        }
    }

    /// The server says the channel is live at `head`; later events resume from there.
    pub fn mark_live(&mut self, channel: &str, head: u64) {
        if let Some(state) = self.channels.get_mut(channel) {
            state.last_seq = Some(state.last_seq.map_or(head, |last| last.max(head)));
        }
    }

    /// Every subscribed channel with the sequence to resume after.
    pub fn resume_points(&self) -> impl Iterator<Item = (&str, Option<u64>)> {
        self.channels
            .iter()
            .map(|(name, state)| (name.as_str(), state.last_seq))
    }

    /// A channel's state, if subscribed.
    pub fn channel(&self, channel: &str) -> Option<&ChannelState> {
        self.channels.get(channel)
    }

    /// Number of subscribed channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_channel_event_and_priority() {
        let mut r = Router::default();
        let (low, first) = r.add("scores", None, -1, None);
        assert!(first);
        let (goals, first) = r.add("scores", Some("goal"), 0, None);
        assert!(!first);
        let (high, _) = r.add("scores", None, 5, None);
        let (other, _) = r.add("chat", None, 9, None);
        let (second_high, _) = r.add("scores", None, 5, None);
        assert_eq!(
            r.route("scores", "goal"),
            vec![high, second_high, goals, low]
        );
        assert_eq!(r.route("scores", "card"), vec![high, second_high, low]);
        assert_eq!(r.route("chat", "x"), vec![other]);
        assert!(r.route("nothing", "x").is_empty());
    }

    #[test]
    fn last_unsubscribe_names_the_channel() {
        let mut r = Router::default();
        let (a, _) = r.add("c", None, 0, None);
        let (b, _) = r.add("c", Some("e"), 0, None);
        assert_eq!(r.remove(a), None);
        assert_eq!(r.remove(a), None, "removing twice is harmless");
        assert_eq!(r.remove(b), Some("c".to_owned()));
        assert_eq!(r.channel_count(), 0);
    }

    #[test]
    fn drops_duplicates_and_tracks_resume_points() {
        let mut r = Router::default();
        r.add("c", None, 0, Some(3));
        assert_eq!(r.accept_seq("c", 3), SeqCheck::Duplicate);
        assert_eq!(r.accept_seq("c", 4), SeqCheck::Fresh);
        assert_eq!(r.accept_seq("c", 4), SeqCheck::Duplicate);
        assert_eq!(r.accept_seq("other", 1), SeqCheck::Unsubscribed);
        r.mark_live("c", 2);
        assert_eq!(r.channel("c").and_then(|c| c.last_seq), Some(4));
        r.mark_live("c", 9);
        assert_eq!(r.resume_points().collect::<Vec<_>>(), vec![("c", Some(9))]);
    }
}
