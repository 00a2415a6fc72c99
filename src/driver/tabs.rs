//! The driver's side of sharing a connection among tabs: the bus, the Web Locks request, and
//! a follower's link to its leader, which the core uses as its socket. The election itself
//! runs in the core (its deadlines are the core's timer); this file only carries messages.

use std::cell::RefCell;
use std::rc::Rc;

use super::Inner;
use crate::core::tabs::{TAB_PROTOCOL, TabAction, TabBody, TabMessage, TabMessageError};
use crate::protocol::envelope::RawJson;
use crate::web::bus::{self, Bus};
use crate::web::events::Listener;
use crate::web::locks::{self, LockRequest};

/// This tab's end of the bus of its namespace.
pub(super) struct Tabs {
    ns: String,
    me: String,
    bus: Option<Bus>,
    lock: Option<LockRequest>,
    /// Follower: the link attempt that is "open" towards the leader.
    link: Option<u64>,
    /// The connection is shared (as created): a tab that left joins again on this.
    share: bool,
    /// The tab left the others (`pagehide`, `freeze`) and has not joined again.
    left: bool,
    /// Hears another tab write the time of a logout.
    _clear_watch: Option<Listener>,
}

impl Tabs {
    pub(super) fn new(ns: String, me: String) -> RefCell<Self> {
        RefCell::new(Self {
            ns,
            me,
            bus: None,
            lock: None,
            link: None,
            share: false,
            left: false,
            _clear_watch: None,
        })
    }

    /// Where the last lock holder keeps its term.
    fn term_key(&self) -> String {
        format!("{}:term", self.ns)
    }

    /// Where the time of the latest logout is kept.
    fn clear_key(&self) -> String {
        format!("{}:cleared", self.ns)
    }

    fn post(&self, to: Option<String>, body: TabBody) -> Result<(), TabMessageError> {
        if let Some(bus) = &self.bus {
            let message = TabMessage {
                ns: self.ns.clone(),
                from: self.me.clone(),
                to,
                body,
            };
            bus.post(&message.encode()?);
        }
        Ok(())
    }
}

impl Inner {
    /// Opens the bus and, when the connection is shared, asks for the leader's lock (where
    /// the browser has Web Locks) and lets the core's election begin.
    pub(super) fn start_tabs(self: &Rc<Self>, share: bool) {
        let weak = Rc::downgrade(self);
        let Ok(ns) = self.tabs.try_borrow().map(|t| t.ns.clone()) else {
            return;
        };
        let bus = Bus::open(&ns, move |text| {
            if let Some(inner) = weak.upgrade() {
                inner.on_bus(&text);
            }
        });
        let medium = bus.as_ref().map_or("none", Bus::medium);
        let locks = locks::available();
        if let Ok(mut t) = self.tabs.try_borrow_mut() {
            t.bus = bus;
            t.share = share;
            t.left = false;
            if share && t.bus.is_some() && locks {
                let weak = Rc::downgrade(self);
                let term_key = t.term_key();
                // One lock per version of the tab protocol: tabs of another version (during a
                // deploy) elect their own leader rather than wait behind one they cannot hear.
                let name = format!("{ns}:leader:v{TAB_PROTOCOL}");
                t.lock = Some(LockRequest::new(&name, move || {
                    let stored = bus::read_number(&term_key).unwrap_or(0);
                    if let Some(inner) = weak.upgrade() {
                        inner.input(|core, now| core.handle_lock_granted(now, stored));
                    }
                }));
            }
            let weak = Rc::downgrade(self);
            t._clear_watch = bus::watch_number(&t.clear_key(), move |at| {
                if let Some(inner) = weak.upgrade() {
                    inner.input(|core, now| core.handle_clear_mark(now, at));
                }
            });
        }
        self.check_clear_mark();
        self.input(|core, now| core.start_tabs(now, medium, share, locks));
    }

    /// Reads the time of the latest logout, which a tab that did not hear it obeys now (at
    /// start, and when the page comes back from being hidden or frozen).
    pub(super) fn check_clear_mark(self: &Rc<Self>) {
        let key = match self.tabs.try_borrow() {
            Ok(t) => t.clear_key(),
            Err(_) => return,
        };
        if let Some(at) = bus::read_number(&key) {
            self.input(|core, now| core.handle_clear_mark(now, at));
        }
    }

    /// Carries out a tab action of the core.
    pub(super) fn tab_action(self: &Rc<Self>, action: TabAction) {
        match action {
            TabAction::Post { to, body } => {
                if let Ok(t) = self.tabs.try_borrow() {
                    // Only a broadcast's data can fail to encode; election messages cannot.
                    let _ = t.post(to, body);
                }
            }
            TabAction::ReloadStorage => self.reload_storage(),
            TabAction::SaveTerm(term) => {
                if let Ok(t) = self.tabs.try_borrow() {
                    bus::write_number(&t.term_key(), term);
                }
            }
            TabAction::SaveClearMark(at) => {
                if let Ok(t) = self.tabs.try_borrow() {
                    bus::write_number(&t.clear_key(), at);
                }
            }
            TabAction::CloseBus => {
                if let Ok(mut t) = self.tabs.try_borrow_mut() {
                    t.lock = None;
                    t.link = None;
                    t.bus = None;
                }
            }
        }
    }

    /// A message from another tab. Anything foreign or malformed is counted and dropped.
    fn on_bus(self: &Rc<Self>, text: &str) {
        let decoded = match self.tabs.try_borrow() {
            Ok(t) => TabMessage::decode(text, &t.ns).map(|m| (m, t.me.clone(), t.link)),
            Err(_) => return,
        };
        let (message, me, link) = match decoded {
            Ok(d) => d,
            Err(_) => {
                self.input(|core, now| core.handle_rejected_tab_message(now));
                return;
            }
        };
        if message.to.as_deref().is_some_and(|to| to != me) {
            return;
        }
        match message.body {
            TabBody::Down { frame, term } => {
                // From the leader this tab follows, in its term (else stale or forged).
                let from_leader = self.core.try_borrow().is_ok_and(|c| {
                    c.tab_leader() == Some(message.from.as_str()) && c.tab_term() == term
                });
                if let (true, Some(attempt)) = (from_leader, link) {
                    self.input(|core, now| core.handle_frame(now, attempt, &frame));
                }
            }
            TabBody::Broadcast { topic, data } if topic == crate::core::optimistic::TOPIC => {
                let from = message.from;
                self.input(|core, now| core.handle_optimistic_step(now, &from, &data));
            }
            TabBody::Broadcast { topic, data } => {
                (self.hooks.on_broadcast)(&topic, &data, &message.from)
            }
            _ => {
                self.input(|core, now| core.handle_bus_message(now, message));
            }
        }
    }

    /// Follower: the core opens its "socket": a link to the leader tab.
    pub(super) fn open_link(self: &Rc<Self>, attempt: u64) -> bool {
        let leader = self
            .core
            .try_borrow()
            .ok()
            .and_then(|c| c.tab_leader().map(str::to_owned));
        let Ok(mut t) = self.tabs.try_borrow_mut() else {
            return false;
        };
        if leader.is_none_or(|l| l == t.me) {
            drop(t);
            self.with_core(|core, now| {
                core.handle_socket_failed(now, attempt, "no leader tab yet".to_owned())
            });
            return true;
        }
        t.link = Some(attempt);
        drop(t);
        // Opens on the next turn of the event loop, as a socket would.
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(inner) = weak.upgrade() {
                inner.input(|core, now| core.handle_socket_open(now, attempt));
            }
        });
        true
    }

    /// Follower: sends a frame over the link; false when this tab has no link.
    pub(super) fn send_on_link(&self, frame: String) -> bool {
        let leader = self
            .core
            .try_borrow()
            .ok()
            .and_then(|c| c.tab_leader().map(str::to_owned));
        let Ok(t) = self.tabs.try_borrow() else {
            return false;
        };
        if t.link.is_none() {
            return false;
        }
        let _ = t.post(leader, TabBody::Up { frame });
        true
    }

    /// Follower: closes the link of `attempt`; false when that is not the link.
    pub(super) fn close_link(&self, attempt: u64) -> bool {
        match self.tabs.try_borrow_mut() {
            Ok(mut t) if t.link == Some(attempt) => {
                t.link = None;
                true
            }
            _ => false,
        }
    }

    /// Leader: a frame for one follower tab or all.
    pub(super) fn post_down(&self, to: Option<String>, frame: String) {
        let term = self.core.try_borrow().map_or(0, |c| c.tab_term());
        if let Ok(t) = self.tabs.try_borrow() {
            let _ = t.post(to, TabBody::Down { frame, term });
        }
    }

    /// Leader: the connection's state for every tab.
    pub(super) fn post_state(&self, state: crate::core::tabs::SharedState) {
        let term = self.core.try_borrow().map_or(0, |c| c.tab_term());
        if let Ok(t) = self.tabs.try_borrow() {
            let _ = t.post(None, TabBody::State { state, term });
        }
    }

    /// An app message for the other tabs.
    pub(super) fn post_broadcast(
        &self,
        topic: String,
        data: RawJson,
    ) -> Result<(), TabMessageError> {
        match self.tabs.try_borrow() {
            Ok(t) => t.post(None, TabBody::Broadcast { topic, data }),
            Err(_) => Ok(()),
        }
    }

    /// This tab is leaving or being frozen: the core says bye (a leader lets go of its lock,
    /// so another tab leads at once), and the bus closes after it.
    pub(super) fn leave_tabs(self: &Rc<Self>) {
        if let Ok(mut t) = self.tabs.try_borrow_mut() {
            t.left = true;
        }
        self.input(|core, now| core.leave_tabs(now));
    }

    /// The page came back (`resume` after `freeze`, `pageshow` from the back-forward cache):
    /// a tab that left joins the others again, through a new election.
    pub(super) fn rejoin_tabs(self: &Rc<Self>) {
        let share = match self.tabs.try_borrow() {
            Ok(t) if t.left => t.share,
            _ => return,
        };
        self.start_tabs(share);
    }
}
