//! `sub` with `since`: history in pages, then live, with nothing lost or sent twice between.
//!
//! The subscription is registered first, as replaying: live events committed from then on
//! wait in its buffer (bounded; past the bound they are dropped and read from storage
//! instead). The replay pages through storage up to the head it saw at registration, each
//! page queued only when the connection's queue has room (so a replay of any length holds at
//! most about half the queue in memory), then, under the registry lock, queues the buffered
//! events and `subscribed` and turns the subscription live. History removed by retention is
//! reported once as `gap`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::hub::{ConnId, Finish, Hub};
use crate::outq::{Out, Outq};
use crate::wire::{self, WireError};

/// Replays `channel` after `since` to `conn`, for the replay registered as `generation`
/// with head `upto`.
pub async fn replay(
    hub: Arc<Hub>,
    conn: ConnId,
    out: Arc<Outq>,
    channel: String,
    since: u64,
    generation: u64,
    mut upto: u64,
) {
    let mut after = since;
    loop {
        while after < upto {
            let page = match hub.db().page(&channel, after, upto, hub.replay_page).await {
                Ok(page) => page,
                Err(message) => {
                    hub.unsubscribe(conn, &channel);
                    let e = WireError {
                        code: "storage",
                        message,
                    };
                    out.push(Out::msg(wire::channel_error(&e, &channel)));
                    return;
                }
            };
            // What retention removed, or (never expected) seqs missing from storage.
            let first = page.events.first().map_or(upto + 1, |e| e.seq);
            if first > after + 1 {
                let to = (first - 1).min(upto);
                if !out
                    .push_when_room(Out::msg(wire::gap(&channel, after + 1, to)))
                    .await
                {
                    return;
                }
                after = to;
            }
            for e in page.events {
                let frame = wire::event(&e.channel, &e.event, e.seq, Some(&e.id), &e.data);
                if !out.push_when_room(Out::msg(frame)).await {
                    return;
                }
                hub.stats.replayed.fetch_add(1, Ordering::Relaxed);
                after = e.seq;
            }
        }
        match hub.finish_replay(conn, &channel, generation) {
            Finish::Live | Finish::Replaced => return,
            Finish::More(head) => upto = head,
        }
    }
}
