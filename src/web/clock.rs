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
