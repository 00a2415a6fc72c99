//! The outbox's dead letters: put back in the queue, forgotten, or dropped when too many.

use super::{Outbox, Waiter};
use crate::core::outbox::types::{OutboxEvent, StoreOp};

impl Outbox {
    /// Puts dead letters back in the outbox (all when `ids` is `None`); returns how many.
    pub fn retry_dead(&mut self, ids: Option<&[String]>, wall: u64, store: bool) -> usize {
        let chosen = self.chosen_dead(ids);
        let mut count = 0;
        for id in chosen {
            let Some(letter) = self.dead.remove(&id) else {
                continue;
            };
            if self.slots.len() >= self.config.max_entries {
                self.dead.insert(id, letter);
                break;
            }
            // A fresh retention period from now.
            let mut entry = letter.entry;
            entry.created_at = wall;
            self.ops.push(StoreOp::DeleteDead(id));
            if store {
                self.ops.push(StoreOp::Put(entry.clone()));
            }
            self.insert(entry, true, Waiter::None);
            count += 1;
        }
        count
    }

    /// Forgets dead letters (all when `ids` is `None`); returns how many.
    pub fn discard_dead(&mut self, ids: Option<&[String]>) -> usize {
        let chosen = self.chosen_dead(ids);
        for id in &chosen {
            self.dead.remove(id);
            self.ops.push(StoreOp::DeleteDead(id.clone()));
        }
        chosen.len()
    }

    /// Beyond `max_dead_letters`, drops the oldest dead letters (ids are time-ordered), from
    /// storage too, each with an event.
    pub(super) fn evict_dead(&mut self) {
        while self.dead.len() > self.config.max_dead_letters {
            let Some((id, letter)) = self.dead.pop_first() else {
                break;
            };
            self.ops.push(StoreOp::DeleteDead(id));
            self.events.push(OutboxEvent::Evicted(letter));
        }
    }

    /// The dead letters `ids` names that exist (all when `None`).
    fn chosen_dead(&self, ids: Option<&[String]>) -> Vec<String> {
        match ids {
            Some(ids) => ids
                .iter()
                .filter(|id| self.dead.contains_key(*id))
                .cloned()
                .collect(),
            None => self.dead.keys().cloned().collect(),
        }
    }
}
