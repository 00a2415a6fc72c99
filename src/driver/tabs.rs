//! The driver's side of sharing a connection among tabs: the bus, the election (with the Web
//! Locks API where the browser has it), and a follower's link to its leader, which the core
//! uses as its socket.

use std::cell::RefCell;
use std::rc::Rc;

use super::Inner;
use crate::core::Role;
use crate::core::election::{Election, ElectionAction};
use crate::core::tabs::{TabBody, TabMessage};
use crate::protocol::envelope::RawJson;
use crate::web::bus::Bus;
use crate::web::clock::{self, Deadline};
use crate::web::locks::{self, LockRequest};

/// This tab's place among the tabs of its namespace.
pub(super) struct Tabs {
    ns: String,
    me: String,
    bus: Option<Bus>,
    election: Option<Election>,
    lock: Option<LockRequest>,
    timer: Option<Deadline>,
    /// Follower: the link attempt that is "open" towards the leader.
    link: Option<u64>,
}

impl Tabs {
    pub(super) fn new(ns: String, me: String) -> RefCell<Self> {
        RefCell::new(Self {
            ns,
            me,
            bus: None,
            election: None,
            lock: None,
            timer: None,
            link: None,
        })
    }

    fn post(&self, to: Option<String>, body: TabBody) {
        if let Some(bus) = &self.bus {
            let message = TabMessage {
                ns: self.ns.clone(),
                from: self.me.clone(),
                to,
                body,
            };
            bus.post(&message.encode());
        }
    }

    fn leader(&self) -> Option<String> {
        self.election
            .as_ref()
            .and_then(Election::leader)
            .map(str::to_owned)
    }
}

impl Inner {
    /// Opens the bus and, when the connection is shared, starts the election.
    pub(super) fn start_tabs(self: &Rc<Self>, share: bool) {
        let weak = Rc::downgrade(self);
        let (ns, me) = match self.tabs.try_borrow() {
            Ok(t) => (t.ns.clone(), t.me.clone()),
            Err(_) => return,
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
            if share && t.bus.is_some() {
                t.election = Some(Election::start(clock::now_ms(), &me, locks));
                if locks {
                    let weak = Rc::downgrade(self);
                    t.lock = Some(LockRequest::new(&format!("{ns}:leader"), move || {
                        if let Some(inner) = weak.upgrade() {
                            inner.with_election(|e, now| e.lock_granted(now));
                        }
                    }));
                }
            }
        }
        let role = if share && medium != "none" {
            Role::Pending
        } else {
            Role::Solo
        };
        self.input(|core, now| {
            core.set_tab_bus(medium);
            core.set_role(now, role);
        });
        self.run_election();
    }

    /// Runs `f` on the election, then carries out what it decided.
    fn with_election(self: &Rc<Self>, f: impl FnOnce(&mut Election, u64)) {
        if let Ok(mut t) = self.tabs.try_borrow_mut() {
            if let Some(e) = t.election.as_mut() {
                f(e, clock::now_ms());
            }
        }
        self.run_election();
    }

    fn run_election(self: &Rc<Self>) {
        let actions = match self.tabs.try_borrow_mut() {
            Ok(mut t) => t
                .election
                .as_mut()
                .map(Election::take_actions)
                .unwrap_or_default(),
            Err(_) => return,
        };
        for action in actions {
            match action {
                ElectionAction::Post { to, body } => {
                    if let Ok(t) = self.tabs.try_borrow() {
                        t.post(to, body);
                    }
                }
                ElectionAction::Role { role, leader: _ } => {
                    let same = self.core.try_borrow().is_ok_and(|c| c.role() == role);
                    if role == Role::Leader && !same {
                        // A new leader drains what every tab left in the shared outbox.
                        self.reload_storage();
                    }
                    self.input(|core, now| {
                        if same {
                            core.leader_changed(now);
                        } else {
                            core.set_role(now, role);
                        }
                    });
                }
            }
        }
        self.arm_election_timer();
    }

    fn arm_election_timer(self: &Rc<Self>) {
        let Ok(mut t) = self.tabs.try_borrow_mut() else {
            return;
        };
        let next = t.election.as_ref().and_then(Election::poll_timeout);
        if t.timer.as_ref().map(|d| d.at) == next {
            return;
        }
        t.timer = next.map(|at| {
            let weak = Rc::downgrade(self);
            Deadline::arm(at, move || {
                if let Some(inner) = weak.upgrade() {
                    if let Ok(mut t) = inner.tabs.try_borrow_mut() {
                        t.timer = None;
                    }
                    inner.with_election(|e, now| e.handle_timeout(now.max(at)));
                }
            })
        });
    }

    /// A message from another tab. Anything foreign or malformed is counted and dropped.
    fn on_bus(self: &Rc<Self>, text: &str) {
        let decoded = match self.tabs.try_borrow() {
            Ok(t) => TabMessage::decode(text, &t.ns).map(|m| (m, t.me.clone(), t.leader(), t.link)),
            Err(_) => return,
        };
        let (message, me, leader, link) = match decoded {
            Ok(d) => d,
            Err(_) => {
                self.input(|core, now| core.handle_rejected_tab_message(now));
                return;
            }
        };
        if message.to.as_deref().is_some_and(|to| to != me) {
            return;
        }
        let from_leader = leader.as_deref() == Some(message.from.as_str());
        let TabMessage { from, body, .. } = message;
        match body {
            TabBody::Up { frame } => {
                self.input(|core, now| core.handle_tab_frame(now, &from, &frame));
            }
            TabBody::Down { frame } => {
                if let (true, Some(attempt)) = (from_leader, link) {
                    self.input(|core, now| core.handle_frame(now, attempt, &frame));
                }
            }
            TabBody::State(state) => {
                if from_leader {
                    self.input(|core, now| core.handle_leader_state(now, state));
                }
            }
            TabBody::Broadcast { topic, data } => (self.hooks.on_broadcast)(&topic, &data, &from),
            TabBody::Bye => {
                self.input(|core, now| core.handle_tab_gone(now, &from));
                self.with_election(|e, now| e.handle(now, &from, &TabBody::Bye));
            }
            body @ (TabBody::Leader { .. } | TabBody::Who | TabBody::Claim { .. }) => {
                self.with_election(|e, now| e.handle(now, &from, &body));
            }
        }
    }

    /// Follower: the core opens its "socket": a link to the leader tab.
    pub(super) fn open_link(self: &Rc<Self>, attempt: u64) -> bool {
        let Ok(mut t) = self.tabs.try_borrow_mut() else {
            return false;
        };
        if t.leader().is_none_or(|l| l == t.me) {
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
        let Ok(t) = self.tabs.try_borrow() else {
            return false;
        };
        if t.link.is_none() {
            return false;
        }
        t.post(t.leader(), TabBody::Up { frame });
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
        if let Ok(t) = self.tabs.try_borrow() {
            t.post(to, TabBody::Down { frame });
        }
    }

    /// Leader: the connection's state for every tab.
    pub(super) fn post_state(&self, state: crate::core::tabs::SharedState) {
        if let Ok(t) = self.tabs.try_borrow() {
            t.post(None, TabBody::State(state));
        }
    }

    /// An app message for the other tabs.
    pub(super) fn post_broadcast(&self, topic: String, data: RawJson) {
        if let Ok(t) = self.tabs.try_borrow() {
            t.post(None, TabBody::Broadcast { topic, data });
        }
    }

    /// This tab is leaving: say so, and let the lock go to the next tab.
    pub(super) fn leave_tabs(self: &Rc<Self>) {
        self.with_election(|e, _| e.stop());
        if let Ok(mut t) = self.tabs.try_borrow_mut() {
            t.lock = None;
            t.timer = None;
            t.election = None;
            t.link = None;
            t.bus = None;
        }
    }
}
