//! Leadership through the Web Locks API: one exclusive lock per namespace, held for the tab's
//! life. Dropping the request releases the lock (or abandons the wait for it).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function locksAvailable() {
  return typeof navigator !== "undefined" && !!navigator.locks && typeof navigator.locks.request === "function";
}
export function acquireLock(name, onGranted) {
  const abort = new AbortController();
  let release = null;
  let done = false;
  navigator.locks.request(name, { mode: "exclusive", signal: abort.signal }, () => {
    if (done) return undefined;
    return new Promise((resolve) => { release = resolve; onGranted(); });
  }).catch(() => {});
  return () => {
    done = true;
    if (release) release(); else abort.abort();
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = locksAvailable)]
    fn locks_available() -> bool;
    #[wasm_bindgen(js_name = acquireLock)]
    fn acquire_lock(name: &str, on_granted: &js_sys::Function) -> js_sys::Function;
}

/// Whether the browser has the Web Locks API.
pub fn available() -> bool {
    locks_available()
}

/// A request for the lock `name`: `on_granted` runs once when this tab holds it.
pub struct LockRequest {
    release: js_sys::Function,
    _on_granted: Closure<dyn FnMut()>,
}

impl LockRequest {
    /// Asks for the lock (the caller checked [`available`]).
    pub fn new(name: &str, on_granted: impl FnMut() + 'static) -> Self {
        let closure = Closure::<dyn FnMut()>::new(on_granted);
        let release = acquire_lock(name, closure.as_ref().unchecked_ref());
        Self {
            release,
            _on_granted: closure,
        }
    }
}

impl Drop for LockRequest {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}
