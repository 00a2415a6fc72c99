//! A WebSocket whose events all go to one callback; closed and unhooked on drop.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

/// What happened on the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// The socket opened.
    Open,
    /// A text frame.
    Text(String),
    /// A binary frame of this many bytes.
    Binary(usize),
    /// A text frame longer than the limit, dropped before it was copied into wasm memory;
    /// at least this many bytes (its UTF-16 length).
    Oversize(usize),
    /// The socket closed (`code` 1006 when the connection just dropped).
    Closed { code: u16, reason: String },
}

/// An open or opening WebSocket.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens a socket to `url`; every event goes to `on_event`. Text frames longer than
    /// `max_bytes` are reported as [`SocketEvent::Oversize`] without being copied.
    pub fn open(
        url: &str,
        max_bytes: usize,
        on_event: impl FnMut(SocketEvent) + 'static,
    ) -> Result<Self, String> {
        let ws = WebSocket::new(url).map_err(|e| describe(&e))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let sink = Rc::new(RefCell::new(on_event));
        let emit = move |sink: &Rc<RefCell<dyn FnMut(SocketEvent)>>, event| {
            // A re-entrant event (impossible from the browser's event loop) is dropped, not a panic.
            if let Ok(mut f) = sink.try_borrow_mut() {
                f(event);
            }
        };
        let sink: Rc<RefCell<dyn FnMut(SocketEvent)>> = sink;
        let s = sink.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| emit(&s, SocketEvent::Open));
        let s = sink.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            // A UTF-8 text is at least as many bytes as UTF-16 units: a longer one is too big
            // whatever it holds, and is not worth copying.
            let units = data
                .dyn_ref::<js_sys::JsString>()
                .map(|s| s.length() as usize);
            let event = match units {
                Some(units) if units > max_bytes => SocketEvent::Oversize(units),
                _ => match data.as_string() {
                    Some(text) => SocketEvent::Text(text),
                    None => SocketEvent::Binary(
                        data.dyn_ref::<js_sys::ArrayBuffer>()
                            .map_or(0, |b| b.byte_length() as usize),
                    ),
                },
            };
            emit(&s, event);
        });
        let s = sink;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            emit(
                &s,
                SocketEvent::Closed {
                    code: e.code(),
                    reason: e.reason(),
                },
            );
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a text frame. Frames sent while the socket is closing are lost, as the
    /// WebSocket API defines; the close event that follows tells the core.
    pub fn send(&self, text: &str) -> Result<(), String> {
        self.ws.send_with_str(text).map_err(|e| describe(&e))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close_with_code(1000);
        }
    }
}

/// A JS exception's message.
pub fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}
