//! The browser's word on network and page life: `online`/`offline`, `visibilitychange`,
//! `pagehide`, `freeze`, `resume` and `pageshow`. Listeners are added on creation and removed on drop.

use web_sys::{Document, VisibilityState, Window};

use super::events::Listener;

/// A change the client reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkSignal {
    /// `online` (true) or `offline` (false).
    Online(bool),
    /// The page became visible (true) or hidden (false).
    Visible(bool),
    /// The page is being unloaded (`pagehide`).
    Leaving,
    /// The page is being frozen (`freeze`).
    Frozen,
    /// The page runs again (`resume` after a freeze, `pageshow`).
    Resumed,
}

/// Whether the browser says it is online (true where it cannot tell).
pub fn is_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Whether the page is visible (true where there is no document).
pub fn is_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_none_or(|d| d.visibility_state() != VisibilityState::Hidden)
}

/// The set of listeners; empty outside a window (workers, server rendering).
#[must_use = "the listeners are removed as soon as this is dropped"]
pub struct NetworkWatch {
    _listeners: Vec<Listener>,
}

impl NetworkWatch {
    /// Starts listening; every signal goes to `on_signal`.
    pub fn new(on_signal: impl Fn(NetworkSignal) + Clone + 'static) -> Self {
        let mut listeners = Vec::new();
        if let Some(window) = web_sys::window() {
            Self::add_window(&mut listeners, &window, &on_signal);
            if let Some(document) = window.document() {
                Self::add_document(&mut listeners, &document, &on_signal);
            }
        }
        Self {
            _listeners: listeners,
        }
    }

    fn add_window(
        listeners: &mut Vec<Listener>,
        window: &Window,
        on_signal: &(impl Fn(NetworkSignal) + Clone + 'static),
    ) {
        for (kind, signal) in [
            ("online", NetworkSignal::Online(true)),
            ("offline", NetworkSignal::Online(false)),
            ("pagehide", NetworkSignal::Leaving),
            ("pageshow", NetworkSignal::Resumed),
        ] {
            let f = on_signal.clone();
            if let Ok(l) = Listener::new(window, kind, move |_| f(signal)) {
                listeners.push(l);
            }
        }
    }

    fn add_document(
        listeners: &mut Vec<Listener>,
        document: &Document,
        on_signal: &(impl Fn(NetworkSignal) + Clone + 'static),
    ) {
        let f = on_signal.clone();
        if let Ok(l) = Listener::new(document, "visibilitychange", move |_| {
            f(NetworkSignal::Visible(is_visible()))
        }) {
            listeners.push(l);
        }
        for (kind, signal) in [
            ("freeze", NetworkSignal::Frozen),
            ("resume", NetworkSignal::Resumed),
        ] {
            let f = on_signal.clone();
            if let Ok(l) = Listener::new(document, kind, move |_| f(signal)) {
                listeners.push(l);
            }
        }
    }
}
