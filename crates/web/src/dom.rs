//! Thin wrappers over the browser APIs this crate uses, in the gloo style: every registration
//! owns its `Closure` and undoes itself on `Drop`, so an early return or a dropped future never
//! leaves a listener, a timer or a lock behind.

use crate::error::WebError;
use js_sys::{Function, Promise};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, EventTarget, Storage, Window};

/// The page's window. This module is for documents, never workers.
pub(crate) fn window() -> Window {
    web_sys::window().expect_throw("mailconnect runs in a browser window, not a worker")
}

/// This page's origin (`https://mail.example.com`).
pub(crate) fn origin() -> String {
    window().location().origin().expect_throw("unreachable: a document's own location is readable")
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now() -> f64 {
    js_sys::Date::now()
}

/// `N` bytes from `crypto.getRandomValues`, the browser's CSPRNG.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], WebError> {
    let mut bytes = [0u8; N];
    window().crypto().and_then(|c| c.get_random_values_with_u8_array(&mut bytes)).map_err(|_| WebError::Browser("crypto.getRandomValues"))?;
    Ok(bytes)
}

/// `sessionStorage`: per tab, survives navigations and reloads.
pub(crate) fn session_storage() -> Result<Storage, WebError> {
    window().session_storage().ok().flatten().ok_or(WebError::Browser("sessionStorage"))
}

/// `localStorage`: shared by the origin's tabs.
pub(crate) fn local_storage() -> Result<Storage, WebError> {
    window().local_storage().ok().flatten().ok_or(WebError::Browser("localStorage"))
}

/// An event listener, removed when dropped (`gloo_events::EventListener`).
#[must_use = "the listener is removed as soon as this value is dropped"]
#[derive(Debug)]
pub(crate) struct EventListener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl EventListener {
    /// Calls `f` for every `kind` event on `target`.
    pub(crate) fn new(target: &EventTarget, kind: &'static str, f: impl FnMut(Event) + 'static) -> Self {
        let callback = Closure::<dyn FnMut(Event)>::new(f);
        target
            .add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
            .expect_throw("unreachable: addEventListener does not throw for a function");
        EventListener { target: target.clone(), kind, callback }
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        // Cannot throw for a function argument; ignoring the result keeps Drop panic-free.
        let _ = self.target.remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// A `setTimeout` or `setInterval`, cleared when dropped (`gloo_timers::callback`).
#[must_use = "the timer is cancelled as soon as this value is dropped"]
#[derive(Debug)]
pub(crate) struct Timer {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` once after `ms` milliseconds.
    pub(crate) fn once(ms: u32, f: impl FnMut() + 'static) -> Self {
        Self::start(ms, f, false)
    }

    /// Calls `f` every `ms` milliseconds.
    pub(crate) fn every(ms: u32, f: impl FnMut() + 'static) -> Self {
        Self::start(ms, f, true)
    }

    fn start(ms: u32, f: impl FnMut() + 'static, repeat: bool) -> Self {
        let callback = Closure::<dyn FnMut()>::new(f);
        let w = window();
        // Browsers keep delays in an int32: anything longer would fire at once.
        let ms = ms.min(i32::MAX as u32) as i32;
        let cb = callback.as_ref().unchecked_ref();
        let id = if repeat {
            w.set_interval_with_callback_and_timeout_and_arguments_0(cb, ms)
        } else {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(cb, ms)
        };
        Timer { id: id.expect_throw("unreachable: setTimeout does not throw for a function"), _callback: callback }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Timeouts and intervals share one id space, so clearTimeout cancels either.
        window().clear_timeout_with_handle(self.id);
    }
}

/// The sending half of [`oneshot`]: the first value sent wins, later ones are ignored.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    slot: Rc<RefCell<Option<T>>>,
    wake: Function,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { slot: self.slot.clone(), wake: self.wake.clone() }
    }
}

impl<T> Sender<T> {
    /// Delivers `value` unless something was delivered already.
    pub(crate) fn send(&self, value: T) {
        let mut slot = self.slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(value);
            let _ = self.wake.call0(&JsValue::UNDEFINED);
        }
    }
}

/// The receiving half of [`oneshot`].
#[must_use = "a receiver does nothing unless awaited with `recv`"]
#[derive(Debug)]
pub(crate) struct Receiver<T> {
    slot: Rc<RefCell<Option<T>>>,
    promise: Promise,
}

impl<T> Receiver<T> {
    /// Waits for the value.
    pub(crate) async fn recv(self) -> T {
        let _ = JsFuture::from(self.promise).await;
        self.slot.borrow_mut().take().expect_throw("unreachable: the promise resolves only after a send")
    }
}

/// A value that callbacks deliver once and an `async fn` awaits. A JS promise is the waker, so
/// this needs no executor of its own.
pub(crate) fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let mut wake = None;
    let promise = Promise::new(&mut |resolve, _reject| wake = Some(resolve));
    let slot = Rc::new(RefCell::new(None));
    let wake = wake.expect_throw("unreachable: the Promise executor runs synchronously");
    (Sender { slot: slot.clone(), wake }, Receiver { slot, promise })
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`; bound here because web-sys marks the Web Locks API unstable.
    #[wasm_bindgen(thread_local_v2, js_namespace = navigator, js_name = locks)]
    static LOCKS: JsValue;

    #[wasm_bindgen(js_namespace = ["navigator", "locks"], js_name = request)]
    fn request_lock(name: &str, callback: &Closure<dyn FnMut(JsValue) -> Promise>) -> Promise;
}

/// Runs `f` while holding the exclusive Web Lock `name`, shared by every tab of the origin and
/// released even when the tab dies. The lock is held `linger_ms` longer than `f` runs (the result
/// is returned at once), so messages `f` broadcast reach the tabs queued on the lock before they
/// get it. Without Web Locks (plain http on a non-localhost host), runs `f` unlocked: correct,
/// only less economical.
pub(crate) async fn with_lock<T>(name: &str, linger_ms: u32, f: impl Future<Output = T>) -> T {
    if LOCKS.with(JsValue::is_undefined) {
        return f.await;
    }
    let (granted, on_grant) = oneshot::<()>();
    let (release, held_until) = oneshot::<()>();
    let mut held_until = Some(held_until.promise);
    // The lock is held until the promise returned by the callback settles.
    let callback = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock| {
        granted.send(());
        held_until.take().unwrap_or_else(|| Promise::resolve(&JsValue::UNDEFINED))
    });
    let _request = request_lock(name, &callback);
    on_grant.recv().await;
    let mut guard = Release(Some(release));
    let out = f.await;
    if let Some(release) = guard.0.take() {
        let release = Closure::once_into_js(move || release.send(()));
        window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(release.unchecked_ref(), linger_ms.min(i32::MAX as u32) as i32)
            .expect_throw("unreachable: setTimeout does not throw for a function");
    }
    out
}

/// Releases a held lock at once if `f` never finishes (a dropped future), so nothing wedges
/// every tab.
struct Release(Option<Sender<()>>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release.send(());
        }
    }
}
