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
    /// A gap was seen after this sequence and the channel asked for again from it: events
    /// past the gap are dropped until the replay brings the missing ones.
    pub refetching: Option<u64>,
    /// The last sequence a refetch was asked from: a gap seen again there is given up.
    refetched: Option<u64>,
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
    /// Events between the last one and this one are missing: drop this one and ask the server
    /// for the channel again from `since` (its replay brings them, in order).
    Refetch { since: u64 },
    /// Dropped: a refetch is under way and its replay brings this event again in order.
    Awaiting,
    /// Events `from..=to` are missing after a refetch brought nothing: deliver this one and
    /// tell the app what was skipped.
    Skipped { from: u64, to: u64 },
}

/// What a `subscribed` answer means for its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveCheck {
    /// Nothing missing.
    Live,
    /// The server's head is past the last event seen, with nothing to bring them: ask again.
    Refetch { since: u64 },
    /// The answer to this channel's refetch (or a second head past what was seen): what is
    /// still missing up to `head` never comes.
    Answered { head: u64 },
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

    /// Records an incoming sequence number and says whether to deliver its event. With
    /// `contiguous` (a server numbering each channel 1, 2, 3…) a jump is a gap.
    pub fn accept_seq(&mut self, channel: &str, seq: u64, contiguous: bool) -> SeqCheck {
        let Some(state) = self.channels.get_mut(channel) else {
            return SeqCheck::Unsubscribed;
        };
        let last = match state.last_seq {
            Some(last) if seq <= last => return SeqCheck::Duplicate,
            Some(last) if contiguous && seq > last.saturating_add(1) => last,
            _ => {
                state.last_seq = Some(seq);
                state.refetching = None;
                return SeqCheck::Fresh;
            }
        };
        if state.refetching.is_some() {
            return SeqCheck::Awaiting;
        }
        state.last_seq = Some(seq);
        if state.refetched == Some(last) {
            // Asked for once from here already and the replay skipped them too.
            return SeqCheck::Skipped {
                from: last + 1,
                to: seq - 1,
            };
        }
        state.last_seq = Some(last);
        state.refetching = Some(last);
        state.refetched = Some(last);
        SeqCheck::Refetch { since: last }
    }

    /// The server says the channel is live at `head`, answering a subscribe from `since`
    /// (`None`: not said). Later events resume from there.
    pub fn mark_live(
        &mut self,
        channel: &str,
        head: u64,
        since: Option<u64>,
        contiguous: bool,
    ) -> LiveCheck {
        let Some(state) = self.channels.get_mut(channel) else {
            return LiveCheck::Live;
        };
        let Some(last) = state.last_seq else {
            state.last_seq = Some(head);
            return LiveCheck::Live;
        };
        if state.refetching.is_some() {
            if since != state.refetching {
                // Another subscribe's answer, while this channel's replay is on its way.
                return LiveCheck::Live;
            }
            state.refetching = None;
            return LiveCheck::Answered { head };
        }
        if head <= last || !contiguous {
            state.last_seq = Some(last.max(head));
            return LiveCheck::Live;
        }
        if state.refetched == Some(last) {
            // Asked for once from here already: what the server says exists never came.
            return LiveCheck::Answered { head };
        }
        state.refetching = Some(last);
        state.refetched = Some(last);
        LiveCheck::Refetch { since: last }
    }

    /// The server says events up to `to` are gone: the stream goes on after them. False when
    /// nothing was missing here (already past them, or not subscribed).
    pub fn skip_to(&mut self, channel: &str, to: u64) -> bool {
        let Some(state) = self.channels.get_mut(channel) else {
            return false;
        };
        if state.last_seq.is_some_and(|last| last >= to) {
            return false;
        }
        state.last_seq = Some(to);
        state.refetching = None;
        true
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
        assert_eq!(r.accept_seq("c", 3, true), SeqCheck::Duplicate);
        assert_eq!(r.accept_seq("c", 4, true), SeqCheck::Fresh);
        assert_eq!(r.accept_seq("c", 4, true), SeqCheck::Duplicate);
        assert_eq!(r.accept_seq("other", 1, true), SeqCheck::Unsubscribed);
        assert_eq!(r.mark_live("c", 2, None, true), LiveCheck::Live);
        assert_eq!(r.channel("c").and_then(|c| c.last_seq), Some(4));
        assert_eq!(r.mark_live("c", 9, None, false), LiveCheck::Live);
        assert_eq!(r.resume_points().collect::<Vec<_>>(), vec![("c", Some(9))]);
    }

    #[test]
    fn a_gap_is_refetched_once_then_skipped_and_told() {
        let mut r = Router::default();
        r.add("c", None, 0, Some(1));
        // 2..=4 missing: ask again from 1, drop what comes before the replay.
        assert_eq!(r.accept_seq("c", 5, true), SeqCheck::Refetch { since: 1 });
        assert_eq!(r.accept_seq("c", 6, true), SeqCheck::Awaiting);
        // Another tab's subscribe answered meanwhile: not this replay's end.
        assert_eq!(r.mark_live("c", 6, None, true), LiveCheck::Live);
        // The replay fills the gap in order; the live copies after it are duplicates.
        for seq in 2..=6 {
            assert_eq!(r.accept_seq("c", seq, true), SeqCheck::Fresh, "{seq}");
        }
        assert_eq!(r.mark_live("c", 6, Some(1), true), LiveCheck::Live);
        assert_eq!(r.accept_seq("c", 5, true), SeqCheck::Duplicate);
        // A gap the replay cannot fill: asked once, then answered (the caller tells what
        // never came and moves on).
        assert_eq!(r.accept_seq("c", 9, true), SeqCheck::Refetch { since: 6 });
        assert_eq!(
            r.mark_live("c", 9, Some(6), true),
            LiveCheck::Answered { head: 9 }
        );
        assert!(r.skip_to("c", 9));
        assert_eq!(r.accept_seq("c", 10, true), SeqCheck::Fresh);
        // The same hole seen again after its refetch is skipped, not asked for again.
        assert_eq!(r.accept_seq("c", 12, true), SeqCheck::Refetch { since: 10 });
        assert!(r.skip_to("c", 10) == false);
        assert_eq!(r.accept_seq("c", 11, true), SeqCheck::Fresh);
        // A server numbering with holes (not contiguous) is taken as it comes.
        assert_eq!(r.accept_seq("c", 20, false), SeqCheck::Fresh);
    }

    #[test]
    fn a_head_past_the_last_event_is_refetched_and_a_told_gap_moves_on() {
        let mut r = Router::default();
        r.add("c", None, 0, Some(3));
        // A resubscribe's answer names a head the replay did not reach.
        assert_eq!(
            r.mark_live("c", 8, Some(3), true),
            LiveCheck::Refetch { since: 3 }
        );
        assert_eq!(
            r.mark_live("c", 8, Some(3), true),
            LiveCheck::Answered { head: 8 }
        );
        assert!(r.skip_to("c", 12));
        assert!(!r.skip_to("c", 10), "already past");
        assert_eq!(r.accept_seq("c", 13, true), SeqCheck::Fresh);
    }
}
