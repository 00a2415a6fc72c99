//! Time, timers and randomness from the browser.

use gloo_timers::callback::Timeout;

/// Milliseconds of the page's monotonic clock (`performance.now()`), rounded down.
pub fn now_ms() -> u64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
        .max(0.0) as u64
}

/// Milliseconds since the Unix epoch (`Date.now()`).
pub fn unix_ms() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}

/// Random bytes from `crypto.getRandomValues` (falling back to `Math.random` where absent).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes
}

/// A random `u64`.
pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// One armed timer for one deadline; dropping it cancels it.
pub struct Deadline {
    /// When it fires (monotonic ms).
    pub at: u64,
    _timeout: Timeout,
}

impl Deadline {
    /// Calls `callback` at `at` (monotonic ms), or at once if that has passed.
    pub fn arm(at: u64, callback: impl FnOnce() + 'static) -> Self {
        let delay = at.saturating_sub(now_ms()).min(u64::from(u32::MAX >> 1)) as u32;
        Self {
            at,
            _timeout: Timeout::new(delay, callback),
        }
    }
}

/// Milliseconds of `performance.now()`, unrounded (for timing handlers).
pub fn precise_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// One requested animation frame (a short timeout while the page is hidden, where frames
/// do not come); dropping it cancels it.
pub struct Frame {
    animation: Option<(i32, wasm_bindgen::closure::Closure<dyn FnMut(f64)>)>,
    _timeout: Option<Timeout>,
}

impl Frame {
    /// Calls `callback` at the next animation frame.
    pub fn request(callback: impl FnOnce() + 'static) -> Self {
        use std::cell::RefCell;
        use std::rc::Rc;
        use wasm_bindgen::JsCast;
        fn fire<F: FnOnce()>(cb: &Rc<RefCell<Option<F>>>) {
            let taken = cb.try_borrow_mut().ok().and_then(|mut c| c.take());
            if let Some(f) = taken {
                f();
            }
        }
        let callback = Rc::new(RefCell::new(Some(callback)));
        if super::network::is_visible() {
            if let Some(window) = web_sys::window() {
                let cb = callback.clone();
                let closure =
                    wasm_bindgen::closure::Closure::<dyn FnMut(f64)>::new(move |_| fire(&cb));
                if let Ok(id) = window.request_animation_frame(closure.as_ref().unchecked_ref()) {
                    return Self {
                        animation: Some((id, closure)),
                        _timeout: None,
                    };
                }
            }
        }
        Self {
            animation: None,
            _timeout: Some(Timeout::new(50, move || fire(&callback))),
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if let (Some((id, _)), Some(window)) = (&self.animation, web_sys::window()) {
            let _ = window.cancel_animation_frame(*id);
        }
    }
}
