//! The driver: feeds browser events and timer ticks into the core and carries out the core's
//! actions with the `web` adapters. It holds no protocol logic; the JS side (callbacks,
//! promises) is reached only through the [`Hooks`] the facade gives it.
//!
//! Re-entrancy: app callbacks run from [`Hooks::on_event`] and may call straight back into
//! the client. The core is therefore only ever borrowed for short, callback-free sections,
//! and a nested [`Driver::input`] leaves the draining to the loop already running.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

mod ops;
mod storage;
mod tabs;

pub use crate::core::docs::merge::Strategy;
pub use crate::core::docs::{Conflict, Op, Resolver};
pub use crate::core::options::{
    ClientOptions, DocumentOptions, OptionsError, PublishOptions, RequestOptions, SubscribeOptions,
};
pub use crate::core::router::SubId;
pub use crate::core::view::StateView;
pub use crate::core::{
    AckRule, ClientError, Config, DeadLetter, Delivery, Event, RequestError, SendError, Snapshot,
};
pub use ops::identity;

use crate::core::{Action, ClientCore, Role};
use crate::protocol::envelope::RawJson;
use crate::web::clock::{self, Deadline, Frame};
use crate::web::network::{self, NetworkSignal, NetworkWatch};
use crate::web::socket::{Socket, SocketEvent};

/// The answer of the app's `auth` callback: a token, no token, or why it failed.
pub type AuthFuture = Pin<Box<dyn Future<Output = Result<Option<String>, String>>>>;

/// The core is in use further up the stack (an app callback called back into the client
/// in a way the drain loop cannot take).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client is busy in a callback of its own")]
pub struct Busy;

/// Why an operation was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The client could not take the message (closed, or its buffer is full).
    #[error(transparent)]
    Send(SendError<()>),
    #[error("event name must not be empty")]
    EmptyName,
    #[error("{0:?} is reserved by Socket.IO and cannot be sent as an event")]
    Reserved(String),
    /// The payload cannot be sent in the shape the server expects.
    #[error("{0}")]
    Payload(&'static str),
}

/// What the driver needs from the facade.
pub struct Hooks {
    /// Asks the app for credentials (the `auth` option), if it gave a callback.
    pub auth: Option<Box<dyn Fn() -> AuthFuture>>,
    /// Receives every core event, outside any borrow.
    pub on_event: Box<dyn Fn(Event)>,
    /// Called once per tick when the snapshot's version changed.
    pub on_state: Box<dyn Fn(&Snapshot)>,
    /// An app message from another tab: topic, data, sending tab.
    pub on_broadcast: Box<dyn Fn(&str, &RawJson, &str)>,
}

#[derive(Default)]
struct Io {
    socket: Option<(u64, Socket)>,
    timer: Option<Deadline>,
    frame: Option<Frame>,
    network: Option<NetworkWatch>,
}

struct Inner {
    core: RefCell<ClientCore>,
    io: RefCell<Io>,
    storage: storage::SharedQueue,
    tabs: RefCell<tabs::Tabs>,
    hooks: Hooks,
    draining: Cell<bool>,
    notified_version: Cell<u64>,
    /// A state notification is scheduled for the end of this tick.
    notify_scheduled: Cell<bool>,
}

/// A running client: the core plus its browser resources. Dropping it closes everything.
pub struct Driver {
    inner: Rc<Inner>,
}

impl Driver {
    /// Creates the client, opens the outbox database `storage` (also the tab namespace),
    /// joins the other tabs (sharing one connection when `share`), and starts listening to
    /// the network and page signals.
    pub fn new(config: Config, storage: String, share: bool, hooks: Hooks) -> Self {
        let tabs = tabs::Tabs::new(storage.clone(), config.tab_id.clone());
        let inner = Rc::new(Inner {
            core: RefCell::new(ClientCore::new(config)),
            io: RefCell::new(Io::default()),
            storage: storage::new_queue(),
            tabs,
            hooks,
            draining: Cell::new(false),
            notified_version: Cell::new(0),
            notify_scheduled: Cell::new(false),
        });
        let weak = Rc::downgrade(&inner);
        let watch = NetworkWatch::new(move |signal| {
            if let Some(inner) = weak.upgrade() {
                inner.on_network(signal);
            }
        });
        if let Ok(mut io) = inner.io.try_borrow_mut() {
            io.network = Some(watch);
        }
        let (online, visible) = (network::is_online(), network::is_visible());
        inner.input(|core, now| {
            core.set_wall_clock(now, clock::unix_ms());
            core.set_online(now, online);
            core.set_visible(now, visible);
        });
        inner.open_storage(storage);
        inner.start_tabs(share);
        Self { inner }
    }

    /// Sends an app message to the other tabs.
    pub fn broadcast(
        &self,
        topic: String,
        data: RawJson,
    ) -> Result<(), crate::core::tabs::TabMessageError> {
        self.inner.post_broadcast(topic, data)
    }

    /// Runs `f` on the core with the current time, then carries out what it caused.
    /// `None` only if the core is busy, which the drain loop's design rules out.
    fn input<R>(&self, f: impl FnOnce(&mut ClientCore, u64) -> R) -> Option<R> {
        self.inner.input(f)
    }

    /// Reads the core: no time passes, nothing is drained or scheduled.
    fn read<R>(&self, f: impl FnOnce(&ClientCore) -> R) -> Option<R> {
        self.inner.core.try_borrow().ok().map(|core| f(&core))
    }

    /// Resolves once the storage changes asked for so far have committed (or failed): a read
    /// transaction waits for every write transaction started before it, and changes held
    /// back behind a committing transaction are written right after it.
    pub fn storage_settled(&self) -> impl std::future::Future<Output = ()> + 'static {
        let inner = Rc::downgrade(&self.inner);
        async move {
            loop {
                let Some(store) = inner.upgrade().and_then(|i| i.open_store()) else {
                    return;
                };
                let _ = store.load().await;
                if !inner.upgrade().is_some_and(|i| i.storage_busy()) {
                    return;
                }
            }
        }
    }

    /// Leaves the other tabs, stops listening to the page and drops the socket and timer.
    pub fn shut_down(&self) {
        self.inner.leave_tabs();
        self.inner.input(|core, now| core.disconnect(now));
        if let Ok(mut io) = self.inner.io.try_borrow_mut() {
            *io = Io::default();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl Inner {
    fn input<R>(self: &Rc<Self>, f: impl FnOnce(&mut ClientCore, u64) -> R) -> Option<R> {
        let result = {
            let mut core = self.core.try_borrow_mut().ok()?;
            let now = clock::now_ms();
            core.set_wall_clock(now, clock::unix_ms());
            f(&mut core, now)
        };
        self.drain();
        Some(result)
    }

    /// Carries out actions and delivers events until the core has nothing more to say.
    fn drain(self: &Rc<Self>) {
        if self.draining.replace(true) {
            return;
        }
        let mut dispatch: Vec<u64> = Vec::new();
        loop {
            let action = self
                .core
                .try_borrow_mut()
                .ok()
                .and_then(|mut c| c.poll_action());
            if let Some(action) = action {
                self.execute(action);
                continue;
            }
            let event = self
                .core
                .try_borrow_mut()
                .ok()
                .and_then(|mut c| c.poll_event());
            match event {
                Some(event) => {
                    // Time the app's handlers take per message, for the metrics.
                    let start = matches!(event, Event::Message(_)).then(clock::precise_now);
                    (self.hooks.on_event)(event);
                    if let Some(start) = start {
                        dispatch.push(((clock::precise_now() - start) * 1000.0).max(0.0) as u64);
                    }
                }
                None => break,
            }
        }
        if !dispatch.is_empty() {
            self.with_core(|core, _| core.record_dispatch(&dispatch));
        }
        self.draining.set(false);
        self.arm_timer();
        let changed = self
            .core
            .try_borrow()
            .is_ok_and(|c| c.snapshot().version != self.notified_version.get());
        if changed && !self.notify_scheduled.replace(true) {
            // One notification per tick, however many inputs changed the state in it: a loop
            // of 10,000 publishes costs listeners one call, with the final state.
            let weak = Rc::downgrade(self);
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(inner) = weak.upgrade() {
                    inner.notify_state();
                }
            });
        }
    }

    fn notify_state(&self) {
        self.notify_scheduled.set(false);
        let changed = self
            .core
            .try_borrow()
            .ok()
            .filter(|c| c.snapshot().version != self.notified_version.get())
            .map(|c| c.snapshot().clone());
        if let Some(snapshot) = changed {
            self.notified_version.set(snapshot.version);
            (self.hooks.on_state)(&snapshot);
        }
    }

    fn execute(self: &Rc<Self>, action: Action) {
        match action {
            Action::RequestAuth { attempt } => self.request_auth(attempt),
            Action::OpenSocket { attempt, url } => {
                let follower = self
                    .core
                    .try_borrow()
                    .is_ok_and(|c| c.role() == Role::Follower);
                if !(follower && self.open_link(attempt)) {
                    self.open_socket(attempt, &url);
                }
            }
            Action::Send(frame) if self.send_on_link(frame.clone()) => {}
            Action::ToTab { to, frame } => self.post_down(to, frame),
            Action::ShareState(state) => self.post_state(state),
            Action::RequestFrame => self.request_frame(),
            Action::Tab(action) => self.tab_action(action),
            Action::Send(frame) => {
                if let Ok(io) = self.io.try_borrow() {
                    if let Some((_, socket)) = &io.socket {
                        // A failed send means the socket is going; its close event follows.
                        let _ = socket.send(&frame);
                    }
                }
            }
            Action::Store(ops) => self.queue_store(ops),
            Action::Http(request) => self.http(request),
            Action::CloseSocket { attempt, .. } if self.close_link(attempt) => {}
            Action::CloseSocket { attempt, .. } => {
                let old = self.io.try_borrow_mut().ok().and_then(|mut io| {
                    if io.socket.as_ref().is_some_and(|(a, _)| *a == attempt) {
                        io.socket.take()
                    } else {
                        None
                    }
                });
                drop(old);
            }
        }
    }

    fn request_auth(self: &Rc<Self>, attempt: u64) {
        let Some(auth) = &self.hooks.auth else {
            self.with_core(|core, now| core.handle_auth(now, attempt, Ok(None)));
            return;
        };
        let answer = auth();
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let result = answer.await;
            if let Some(inner) = weak.upgrade() {
                inner.input(|core, now| core.handle_auth(now, attempt, result));
            }
        });
    }

    /// Makes an HTTP request of the outbox, with the app's credentials when it has an
    /// `auth` callback (asked for every request: a token that expired is not used again).
    fn http(self: &Rc<Self>, request: crate::core::rest::HttpRequest) {
        use crate::core::rest::HttpOutcome;
        let auth = self.hooks.auth.as_ref().map(|auth| auth());
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let mut headers = request.headers;
            let token = match auth {
                Some(answer) => answer
                    .await
                    .map_err(|e| ["auth callback failed: ", &e].concat()),
                None => Ok(None),
            };
            let outcome = match token {
                Ok(token) => {
                    if let Some(token) = token {
                        headers.push(("Authorization".to_owned(), ["Bearer ", &token].concat()));
                    }
                    let (method, url, body) = (&request.method, &request.url, &request.body);
                    match crate::web::http::fetch(method, url, &headers, body, request.timeout_ms)
                        .await
                    {
                        Ok(a) => HttpOutcome::Status {
                            status: a.status,
                            retry_after: a.retry_after,
                            body: a.body,
                        },
                        Err(why) => HttpOutcome::Failed(why),
                    }
                }
                Err(why) => HttpOutcome::Failed(why),
            };
            if let Some(inner) = weak.upgrade() {
                inner.input(|core, now| core.handle_http(now, request.request, outcome));
            }
        });
    }

    fn open_socket(self: &Rc<Self>, attempt: u64, url: &str) {
        let weak: Weak<Self> = Rc::downgrade(self);
        let max_bytes = self
            .core
            .try_borrow()
            .map_or(usize::MAX, |core| core.config().max_message_bytes);
        let opened = Socket::open(url, max_bytes, move |event| {
            if let Some(inner) = weak.upgrade() {
                inner.on_socket(attempt, event);
            }
        });
        match opened {
            Ok(socket) => {
                if let Ok(mut io) = self.io.try_borrow_mut() {
                    io.socket = Some((attempt, socket));
                }
            }
            Err(message) => {
                self.with_core(|core, now| core.handle_socket_failed(now, attempt, message))
            }
        }
    }

    /// Core access from inside the drain loop (the loop picks up what it causes).
    fn with_core(&self, f: impl FnOnce(&mut ClientCore, u64)) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            f(&mut core, clock::now_ms());
        }
    }

    fn on_socket(self: &Rc<Self>, attempt: u64, event: SocketEvent) {
        self.input(|core, now| match event {
            SocketEvent::Open => core.handle_socket_open(now, attempt),
            SocketEvent::Text(text) => core.handle_frame(now, attempt, &text),
            SocketEvent::Binary(len) => core.handle_binary(now, attempt, len),
            SocketEvent::Oversize(len) => core.handle_oversize(now, attempt, len),
            SocketEvent::Closed { code, reason } => {
                core.handle_socket_closed(now, attempt, code, &reason)
            }
        });
    }

    fn on_network(self: &Rc<Self>, signal: NetworkSignal) {
        self.input(|core, now| match signal {
            NetworkSignal::Online(online) => core.set_online(now, online),
            NetworkSignal::Visible(visible) => core.set_visible(now, visible),
            NetworkSignal::Leaving | NetworkSignal::Frozen | NetworkSignal::Resumed => {}
        });
        match signal {
            // A frozen page runs nothing: it lets the others lead, as a closing one does.
            NetworkSignal::Leaving | NetworkSignal::Frozen => self.leave_tabs(),
            NetworkSignal::Resumed => self.rejoin_tabs(),
            NetworkSignal::Online(_) | NetworkSignal::Visible(_) => {}
        }
        if signal == NetworkSignal::Visible(true) {
            // Back from hidden (or frozen, or the back/forward cache): a logout may have
            // happened meanwhile.
            self.check_clear_mark();
        }
    }

    /// Keeps exactly one browser timer, for the core's earliest deadline.
    fn arm_timer(self: &Rc<Self>) {
        let next = match self.core.try_borrow() {
            Ok(core) => core.poll_timeout(),
            Err(_) => return,
        };
        let Ok(mut io) = self.io.try_borrow_mut() else {
            return;
        };
        if io.timer.as_ref().map(|t| t.at) == next {
            return;
        }
        io.timer = next.map(|at| {
            let weak = Rc::downgrade(self);
            Deadline::arm(at, move || {
                if let Some(inner) = weak.upgrade() {
                    inner.on_timer(at);
                }
            })
        });
    }

    fn request_frame(self: &Rc<Self>) {
        let Ok(mut io) = self.io.try_borrow_mut() else {
            return;
        };
        if io.frame.is_some() {
            return;
        }
        let weak = Rc::downgrade(self);
        io.frame = Some(Frame::request(move || {
            if let Some(inner) = weak.upgrade() {
                if let Ok(mut io) = inner.io.try_borrow_mut() {
                    io.frame = None;
                }
                inner.input(|core, now| core.handle_animation_frame(now));
            }
        }));
    }

    fn on_timer(self: &Rc<Self>, at: u64) {
        if let Ok(mut io) = self.io.try_borrow_mut() {
            if io.timer.as_ref().is_some_and(|t| t.at == at) {
                io.timer = None;
            }
        }
        // The browser fired the timer for `at`: treat that time as reached even if the
        // millisecond clock rounds a hair below it.
        self.input(|core, now| core.handle_timeout(now.max(at)));
    }
}
