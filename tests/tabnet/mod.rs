//! Tabs on a simulated bus, for native tests: a leader core with a scripted server, and
//! follower cores whose link goes through an in-memory tab bus to the leader's hub. The bus
//! carries what the browser layer would: election posts to every tab (or the one named), a
//! follower's frames to the tab it follows, and the leader's frames and state only to the
//! tabs that follow it in its term.
#![allow(dead_code)]

use crate::sim::Sim;
use syncline::core::tabs::{TabAction, TabBody, TabMessage};
use syncline::core::{Event, Role};
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage};

pub struct Net {
    pub leader: Sim,
    pub leader_tab: String,
    pub followers: Vec<(String, Sim)>,
    /// What the leader sent to the server.
    pub upstream: Vec<ClientMessage>,
    /// The link attempt each follower's "socket" was opened for.
    pub linked: std::collections::HashMap<String, u64>,
    /// The leader's clock at each state it shared.
    pub shares: Vec<u64>,
}

pub fn config(tab: &str) -> syncline::core::Config {
    let mut c = Sim::config();
    c.tab_id = tab.to_owned();
    c
}

impl Net {
    pub fn new(followers: usize) -> Self {
        let mut leader = Sim::with_storage(config("L"));
        // Every tab runs the election (with Web Locks); L is granted the lock.
        leader
            .core
            .start_tabs(leader.now, "broadcastchannel", true, true);
        leader.core.handle_lock_granted(leader.now, 0);
        leader.pump();
        assert_eq!(leader.core.role(), Role::Leader);
        leader.open();
        let mut net = Self {
            leader,
            leader_tab: "L".into(),
            followers: Vec::new(),
            upstream: Vec::new(),
            linked: std::collections::HashMap::new(),
            shares: Vec::new(),
        };
        for n in 0..followers {
            net.add_follower(&format!("F{n}"));
        }
        net
    }

    pub fn add_follower(&mut self, tab: &str) {
        let mut f = Sim::with_storage(config(tab));
        f.core.start_tabs(f.now, "broadcastchannel", true, true);
        f.pump();
        f.connect();
        self.followers.push((tab.to_owned(), f));
        self.route();
        assert_eq!(
            self.followers.last().map(|(_, f)| f.core.role()),
            Some(Role::Follower)
        );
    }

    pub fn follower(&mut self, n: usize) -> &mut Sim {
        &mut self.followers[n].1
    }

    /// Carries the election's posts among every tab's core, as the bus would.
    pub fn elect(&mut self) -> bool {
        let mut posts = Vec::new();
        let leader_tab = self.leader_tab.clone();
        let tabs = std::iter::once((&leader_tab, &mut self.leader))
            .chain(self.followers.iter_mut().map(|(t, f)| (&*t, f)));
        for (tab, sim) in tabs {
            for action in std::mem::take(&mut sim.tab_actions) {
                if let TabAction::Post { to, body } = action {
                    posts.push(TabMessage {
                        ns: "syncline:default".into(),
                        from: tab.clone(),
                        to,
                        body,
                    });
                }
            }
        }
        let moved = !posts.is_empty();
        for post in posts {
            let tabs = std::iter::once((&leader_tab, &mut self.leader))
                .chain(self.followers.iter_mut().map(|(t, f)| (&*t, f)));
            for (tab, sim) in tabs {
                if *tab != post.from && post.to.as_ref().is_none_or(|to| to == tab) {
                    let now = sim.now;
                    sim.core.handle_bus_message(now, post.clone());
                    sim.pump();
                }
            }
        }
        moved
    }

    /// Carries messages over the bus (and opens links) until nothing moves.
    pub fn route(&mut self) {
        for _ in 0..50 {
            let mut moved = self.elect();
            for (tab, f) in &mut self.followers {
                // A link "opens" as soon as the follower asks for one.
                if let Some(attempt) = f.socket {
                    if self.linked.get(tab) != Some(&attempt) {
                        self.linked.insert(tab.clone(), attempt);
                        f.socket_opens();
                    }
                }
                // Posted to the tab it follows: only the leader's hub reads them.
                let to_leader = f.core.tab_leader() == Some(self.leader_tab.as_str());
                for frame in std::mem::take(&mut f.frames) {
                    if to_leader {
                        self.leader
                            .core
                            .handle_tab_frame(self.leader.now, tab, &frame);
                        moved = true;
                    }
                }
                f.sent.clear();
            }
            self.leader.pump();
            // The browser layer takes the leader's frames from the tab it follows, in its term.
            let term = self.leader.core.tab_term();
            let leader_tab = self.leader_tab.clone();
            for (to, frame) in std::mem::take(&mut self.leader.to_tabs) {
                for (tab, f) in &mut self.followers {
                    let follows = f.core.tab_leader() == Some(leader_tab.as_str())
                        && f.core.tab_term() == term;
                    if to.as_deref().is_none_or(|t| t == tab) && f.socket.is_some() && follows {
                        f.receive_frame(&frame);
                        moved = true;
                    }
                }
            }
            for state in std::mem::take(&mut self.leader.shared) {
                self.shares.push(self.leader.now);
                for (_, f) in &mut self.followers {
                    let now = f.now;
                    let message = TabMessage {
                        ns: "syncline:default".into(),
                        from: leader_tab.clone(),
                        to: None,
                        body: TabBody::State {
                            state: state.clone(),
                            term,
                        },
                    };
                    f.core.handle_bus_message(now, message);
                    f.pump();
                }
                moved = true;
            }
            self.upstream.extend(self.leader.take_sent());
            if !moved {
                return;
            }
        }
        panic!("the tab bus did not settle");
    }

    /// The server answers every publish the leader sent with an ack (seq from 1).
    pub fn server_acks(&mut self) -> Vec<String> {
        let mut acked = Vec::new();
        for m in std::mem::take(&mut self.upstream) {
            if let ClientMessage::Publish { id, .. } = m {
                acked.push(id.clone());
                self.leader.receive(ServerMessage::Ack {
                    id,
                    seq: acked.len() as u64,
                });
            }
        }
        self.route();
        acked
    }
}

pub fn event(channel: &str, seq: u64) -> ServerMessage {
    ServerMessage::Event {
        channel: channel.into(),
        event: "goal".into(),
        seq,
        id: None,
        data: RawJson::null(),
        spread: false,
    }
}

pub fn deliveries(s: &mut Sim) -> Vec<u64> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.seq),
            _ => None,
        })
        .collect()
}
