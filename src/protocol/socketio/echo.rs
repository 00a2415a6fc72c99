//! [`Delivery::Echo`](crate::protocol::Delivery::Echo): the publishes waiting for an event
//! that carries their id back, kept across sockets.

use std::collections::{HashMap, VecDeque};

use super::MAX_AWAITED;
use crate::protocol::raw::RawJson;

/// Publishes sent with echo delivery, by the id the server sees, until their echo comes.
#[derive(Debug, Default)]
pub struct Echoes {
    by_wire_id: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Echoes {
    pub fn await_echo(&mut self, wire_id: String, id: String) {
        if self.order.len() >= MAX_AWAITED {
            if let Some(old) = self.order.pop_front() {
                self.by_wire_id.remove(&old);
            }
        }
        if self.by_wire_id.insert(wire_id.clone(), id).is_none() {
            self.order.push_back(wire_id);
        }
    }

    /// The publish an event's arguments echo, if any carries a known id under `field`.
    pub fn take(&mut self, field: &str, args: &[RawJson]) -> Option<String> {
        if self.by_wire_id.is_empty() {
            return None;
        }
        args.iter()
            .filter_map(|arg| arg.field(field))
            .find_map(|wire_id| self.by_wire_id.remove(&wire_id.as_text()))
    }
}
