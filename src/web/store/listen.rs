//! Event listeners on IndexedDB objects whose Rust side cannot be called after it is gone.
//!
//! A listener is added with `addEventListener` and removed again before its closure is dropped,
//! so the browser never calls into a freed closure ("closure invoked recursively or after being
//! dropped"), whatever order a transaction's `error`, `abort` and `complete` events come in, and
//! however many of them there are.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventTarget};

/// `callback` listening to `events` on `target` until this is dropped.
pub struct Listener {
    target: EventTarget,
    events: &'static [&'static str],
    closure: Closure<dyn FnMut(Event)>,
}

impl Listener {
    pub fn new(
        target: &EventTarget,
        events: &'static [&'static str],
        callback: impl FnMut(Event) + 'static,
    ) -> Self {
        let closure = Closure::<dyn FnMut(Event)>::new(callback);
        for event in events {
            // Adding a listener throws only for a target that is not one.
            let _ =
                target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
        }
        Self {
            target: target.clone(),
            events,
            closure,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        for event in self.events {
            let _ = self
                .target
                .remove_event_listener_with_callback(event, self.closure.as_ref().unchecked_ref());
        }
    }
}

#[derive(Default)]
struct Slot {
    fired: Option<String>,
    waker: Option<Waker>,
}

/// Resolves with the type of the first of `events` that fires on the target; listens from
/// when it is made (not from its first poll) until it is dropped.
pub struct Fired {
    slot: Rc<RefCell<Slot>>,
    _listener: Listener,
}

impl Fired {
    pub fn new(target: &EventTarget, events: &'static [&'static str]) -> Self {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let shared = slot.clone();
        let listener = Listener::new(target, events, move |event: Event| {
            let Ok(mut slot) = shared.try_borrow_mut() else {
                return;
            };
            if slot.fired.is_none() {
                slot.fired = Some(event.type_());
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
        });
        Self {
            slot,
            _listener: listener,
        }
    }
}

impl Future for Fired {
    type Output = String;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<String> {
        let Ok(mut slot) = self.slot.try_borrow_mut() else {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        match slot.fired.take() {
            Some(event) => Poll::Ready(event),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
