//! Logout in a tab that did not ask for it: the entries made before the logout leave this
//! outbox, and storage one record at a time (the asking tab emptied the shared database; a
//! write this tab still has queued must not bring an entry back).

use super::{Outbox, Waiter};
use crate::core::outbox::types::StoreOp;

impl Outbox {
    /// Forgets the entries and dead letters made at or before `until` (Unix ms; `u64::MAX`:
    /// all), here and in storage; returns the entries' ids and whether a promise waited for
    /// each.
    pub fn forget_until(&mut self, until: u64) -> Vec<(String, bool)> {
        let ids: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.entry.created_at <= until)
            .map(|(id, _)| id.clone())
            .collect();
        let mut dropped = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(slot) = self.remove(&id) {
                dropped.push((id.clone(), slot.waiter != Waiter::None));
                self.ops.push(StoreOp::Delete(id));
            }
        }
        let dead: Vec<String> = self
            .dead
            .iter()
            .filter(|(_, letter)| letter.entry.created_at <= until)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            self.dead.remove(&id);
            self.ops.push(StoreOp::DeleteDead(id));
        }
        dropped
    }
}
