//! Per-subscription pacing of deliveries: throttle (at most one per interval, the latest
//! one at the end of it), debounce (the latest one once events stop for an interval), and
//! coalescing per animation frame (the latest event per key, once per frame). A delivery that
//! replaces earlier ones says how many it folded in (`coalesced`), so nothing vanishes
//! without a trace.

use std::collections::HashMap;

use super::Delivery;
use super::router::SubId;
use crate::protocol::value::Value;

/// How a subscription is paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pace {
    /// At most one delivery per `ms`: the first at once, the latest at the end of the interval.
    Throttle(u64),
    /// The latest delivery once no event came for `ms`.
    Debounce(u64),
    /// The latest delivery per key, once per animation frame. The key is the value at this
    /// dotted path in the data (e.g. "id"), or the event name when `None`.
    Frame(Option<String>),
}

#[derive(Debug)]
struct Gate {
    pace: Pace,
    last_sent: Option<u64>,
    /// Held deliveries (one, or one per key for frames) with how many each replaced.
    held: Vec<(String, Delivery)>,
    deadline: Option<u64>,
}

/// The gates of all paced subscriptions.
#[derive(Debug, Default)]
pub struct Gates {
    gates: HashMap<SubId, Gate>,
    /// Deliveries folded into later ones.
    pub coalesced: u64,
}

impl Gates {
    /// Paces subscription `sub`.
    pub fn add(&mut self, sub: SubId, pace: Pace) {
        self.gates.insert(
            sub,
            Gate {
                pace,
                last_sent: None,
                held: Vec::new(),
                deadline: None,
            },
        );
    }

    /// Forgets a subscription (what it held is dropped with it: it was unsubscribed).
    pub fn remove(&mut self, sub: SubId) {
        self.gates.remove(&sub);
    }

    /// True when `sub` is paced.
    pub fn paces(&self, sub: SubId) -> bool {
        self.gates.contains_key(&sub)
    }

    /// A delivery for paced `sub`: returned when it goes out now, held otherwise.
    pub fn offer(&mut self, now: u64, sub: SubId, delivery: Delivery) -> Option<Delivery> {
        let gate = self.gates.get_mut(&sub)?;
        match gate.pace.clone() {
            Pace::Throttle(ms) => {
                let free = gate.last_sent.is_none_or(|t| now >= t.saturating_add(ms));
                if free && gate.held.is_empty() {
                    gate.last_sent = Some(now);
                    return Some(delivery);
                }
                if gate.deadline.is_none() {
                    gate.deadline = Some(gate.last_sent.map_or(now, |t| t.saturating_add(ms)));
                }
                self.coalesced += hold(gate, String::new(), delivery);
                None
            }
            Pace::Debounce(ms) => {
                gate.deadline = Some(now.saturating_add(ms));
                self.coalesced += hold(gate, String::new(), delivery);
                None
            }
            Pace::Frame(path) => {
                let key = match &path {
                    Some(path) => {
                        let data = Value::from_raw(&delivery.data);
                        let mut key = String::new();
                        if let Some(v) = data.at_path(path) {
                            v.write(&mut key);
                        }
                        key
                    }
                    None => delivery.event.clone(),
                };
                self.coalesced += hold(gate, key, delivery);
                None
            }
        }
    }

    /// Throttle and debounce deliveries whose time has come.
    pub fn expire(&mut self, now: u64) -> Vec<Delivery> {
        let mut out = Vec::new();
        for gate in self.gates.values_mut() {
            if gate.deadline.is_some_and(|d| d <= now) {
                gate.deadline = None;
                gate.last_sent = Some(now);
                out.extend(gate.held.drain(..).map(|(_, d)| d));
            }
        }
        out
    }

    /// True when frame-paced deliveries wait for the next animation frame.
    pub fn wants_frame(&self) -> bool {
        self.gates
            .values()
            .any(|g| matches!(g.pace, Pace::Frame(_)) && !g.held.is_empty())
    }

    /// An animation frame: every frame-paced delivery goes out.
    pub fn frame(&mut self) -> Vec<Delivery> {
        let mut out = Vec::new();
        for gate in self.gates.values_mut() {
            if matches!(gate.pace, Pace::Frame(_)) {
                out.extend(gate.held.drain(..).map(|(_, d)| d));
            }
        }
        out.sort_by_key(|d| d.seq);
        out
    }

    /// The earliest throttle or debounce deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.gates.values().filter_map(|g| g.deadline).min()
    }
}

/// Holds `delivery` under `key`, replacing (and counting) one held there. Returns how many
/// deliveries were folded in by this call.
fn hold(gate: &mut Gate, key: String, mut delivery: Delivery) -> u64 {
    match gate.held.iter_mut().find(|(k, _)| *k == key) {
        Some((_, held)) => {
            delivery.coalesced = held.coalesced + 1;
            *held = delivery;
            1
        }
        None => {
            gate.held.push((key, delivery));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::envelope::RawJson;

    fn delivery(seq: u64, data: &str) -> Delivery {
        Delivery {
            subscribers: vec![SubId(1)],
            channel: "c".into(),
            event: "e".into(),
            seq,
            id: None,
            data: RawJson::parse(data).unwrap(),
            spread: false,
            coalesced: 0,
        }
    }

    #[test]
    fn throttle_sends_the_first_then_the_latest_per_interval() {
        let mut g = Gates::default();
        g.add(SubId(1), Pace::Throttle(1_000));
        assert_eq!(
            g.offer(0, SubId(1), delivery(1, "1")).map(|d| d.seq),
            Some(1)
        );
        assert!(g.offer(100, SubId(1), delivery(2, "2")).is_none());
        assert!(g.offer(200, SubId(1), delivery(3, "3")).is_none());
        assert_eq!(g.next_deadline(), Some(1_000));
        let out = g.expire(1_000);
        assert_eq!(
            out.iter().map(|d| (d.seq, d.coalesced)).collect::<Vec<_>>(),
            vec![(3, 1)]
        );
        assert!(
            g.offer(1_500, SubId(1), delivery(4, "4")).is_none(),
            "within the next interval"
        );
        assert_eq!(g.expire(2_000).len(), 1);
        assert_eq!(
            g.offer(3_500, SubId(1), delivery(5, "5")).map(|d| d.seq),
            Some(5)
        );
        assert_eq!(g.coalesced, 1);
    }

    #[test]
    fn debounce_waits_for_quiet() {
        let mut g = Gates::default();
        g.add(SubId(1), Pace::Debounce(300));
        for (t, seq) in [(0, 1), (100, 2), (250, 3)] {
            assert!(g.offer(t, SubId(1), delivery(seq, "0")).is_none());
        }
        assert!(g.expire(500).is_empty());
        let out = g.expire(550);
        assert_eq!(
            out.iter().map(|d| (d.seq, d.coalesced)).collect::<Vec<_>>(),
            vec![(3, 2)]
        );
    }

    #[test]
    fn frames_keep_the_latest_per_key() {
        let mut g = Gates::default();
        g.add(SubId(1), Pace::Frame(Some("id".into())));
        for (seq, data) in [
            (1, r#"{"id":"a","v":1}"#),
            (2, r#"{"id":"b","v":1}"#),
            (3, r#"{"id":"a","v":2}"#),
            (4, r#"{"id":"a","v":3}"#),
        ] {
            assert!(g.offer(0, SubId(1), delivery(seq, data)).is_none());
        }
        assert!(g.wants_frame());
        let out = g.frame();
        assert_eq!(
            out.iter().map(|d| (d.seq, d.coalesced)).collect::<Vec<_>>(),
            vec![(2, 0), (4, 2)]
        );
        assert!(!g.wants_frame());
    }
}
