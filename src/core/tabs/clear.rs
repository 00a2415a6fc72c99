//! Logout across tabs: the clear requests this tab made and the answers it waits for, and the
//! latest logout this tab obeyed.
//!
//! The asking tab clears itself, then asks every tab (`clear`); each clears and answers
//! (`cleared`) with what it dropped, a leader also naming its linked tabs, which the asking
//! tab then waits for too. The request is done when the leader and every tab known to it have
//! answered, or after [`CLEAR_TIMEOUT_MS`] with the tabs that did not. The time of the logout
//! is also kept in the origin's storage (the "mark"): a tab that was not reachable (frozen, or
//! not yet listening) obeys it when it next hears of it, and a leader refuses entries made
//! before it.

use std::collections::BTreeSet;

/// How long a clear request waits for the other tabs' answers.
pub const CLEAR_TIMEOUT_MS: u64 = 3_000;

/// One clear request of this tab.
#[derive(Debug)]
struct Request {
    id: String,
    /// Tabs whose answer is awaited.
    waiting: BTreeSet<String>,
    /// Tabs that answered.
    answered: BTreeSet<String>,
    dropped: u64,
    deadline: u64,
}

/// How a clear request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearOutcome {
    pub id: String,
    /// Entries dropped, each counted once: by the tab that made it (or, for entries of
    /// tabs that are gone, by the leader that held them).
    pub dropped: u64,
    /// Tabs that did not answer in time (empty: every known tab obeyed).
    pub missing: Vec<String>,
}

/// The clear requests and the mark.
#[derive(Debug, Default)]
pub struct Clears {
    requests: Vec<Request>,
    /// Unix ms of the latest logout this tab obeyed: nothing made at or before it is sent.
    mark: u64,
    done: Vec<ClearOutcome>,
}

impl Clears {
    /// The latest logout this tab obeyed (Unix ms, 0: none).
    pub fn mark(&self) -> u64 {
        self.mark
    }

    /// Records a logout at `at`; true when it is newer than the mark.
    pub fn raise_mark(&mut self, at: u64) -> bool {
        if at > self.mark {
            self.mark = at;
            return true;
        }
        false
    }

    /// This tab asked the tabs in `waiting` to clear, having dropped `dropped` itself.
    pub fn start(&mut self, now: u64, id: String, waiting: BTreeSet<String>, dropped: u64) {
        self.requests.push(Request {
            id,
            waiting,
            answered: BTreeSet::new(),
            dropped,
            deadline: now.saturating_add(CLEAR_TIMEOUT_MS),
        });
        self.settle(now);
    }

    /// Tab `from` answered request `id`; `tabs` are more tabs to wait for (a leader's
    /// linked tabs), `me` this tab.
    pub fn answered(
        &mut self,
        now: u64,
        me: &str,
        from: &str,
        id: &str,
        dropped: u64,
        tabs: &[String],
    ) {
        let Some(request) = self.requests.iter_mut().find(|r| r.id == id) else {
            return;
        };
        if !request.answered.insert(from.to_owned()) {
            return;
        }
        request.waiting.remove(from);
        request.dropped = request.dropped.saturating_add(dropped);
        for tab in tabs {
            if tab != me && !request.answered.contains(tab) {
                request.waiting.insert(tab.clone());
            }
        }
        self.settle(now);
    }

    /// Ends the requests that every tab answered, or whose time is up.
    pub fn settle(&mut self, now: u64) {
        let (done, open): (Vec<Request>, Vec<Request>) = std::mem::take(&mut self.requests)
            .into_iter()
            .partition(|r| r.waiting.is_empty() || r.deadline <= now);
        self.requests = open;
        self.done.extend(done.into_iter().map(|r| ClearOutcome {
            id: r.id,
            dropped: r.dropped,
            missing: r.waiting.into_iter().collect(),
        }));
    }

    /// Requests that ended, in order.
    pub fn take_done(&mut self) -> Vec<ClearOutcome> {
        std::mem::take(&mut self.done)
    }

    /// When the earliest open request gives up waiting.
    pub fn deadline(&self) -> Option<u64> {
        self.requests.iter().map(|r| r.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_leader_then_for_the_tabs_it_names() {
        let mut c = Clears::default();
        c.start(0, "c1".into(), BTreeSet::from(["L".to_owned()]), 3);
        assert!(c.take_done().is_empty());
        c.answered(10, "F1", "L", "c1", 3, &["F1".to_owned(), "F2".to_owned()]);
        assert!(c.take_done().is_empty(), "F2 has not answered");
        c.answered(20, "F1", "L", "c1", 9, &[]);
        c.answered(20, "F1", "F2", "c1", 1, &[]);
        let done = c.take_done();
        assert_eq!(
            done,
            vec![ClearOutcome {
                id: "c1".into(),
                dropped: 7,
                missing: vec![]
            }],
            "a repeated answer counts once"
        );
    }

    #[test]
    fn gives_up_after_the_timeout_naming_the_silent_tabs() {
        let mut c = Clears::default();
        c.start(0, "c1".into(), BTreeSet::from(["L".to_owned()]), 2);
        assert_eq!(c.deadline(), Some(CLEAR_TIMEOUT_MS));
        c.settle(CLEAR_TIMEOUT_MS - 1);
        assert!(c.take_done().is_empty());
        c.settle(CLEAR_TIMEOUT_MS);
        assert_eq!(c.take_done()[0].missing, vec!["L".to_owned()]);
        assert!(c.raise_mark(5) && !c.raise_mark(5) && c.mark() == 5);
    }
}
