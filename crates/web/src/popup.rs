//! Sign-in in a popup: open it inside the click, then wait for the callback page's answer.
//!
//! The callback page posts `{type: "mailconnect:callback", state, params, redirectUri}` (where the
//! response arrived) to its opener (with this
//! origin as target) and on the BroadcastChannel `mailconnect:{state}`; the watcher accepts it only
//! from this origin and for its state, answers `{type: "mailconnect:ack", state}` on the channel
//! and closes the popup. Its `then` verifies the response again (core's `Callback::verify`)
//! before the code is used.
//!
//! With Cross-Origin-Opener-Policy on the app (or on the provider's page) the browser severs the
//! popup as soon as it shows the provider: `popup.closed` reads true although the window is open,
//! and the callback page has no opener. A severed handle looks exactly like a closed one, so the
//! watcher tells them apart by history: a window seen open on another origin for [`AWAY_MS`] and
//! then closed was closed by the user (`popup_closed`); one that reads as closed without having
//! been seen there that long was severed, and the watcher waits on the channel until the timeout.
//! The time matters: a browser severs the handle a moment after the provider's page commits, and
//! meanwhile the handle reads as open on another origin. Calling connect() again replaces such a
//! sign-in, so a user who closes a severed window is never stuck.
//!
//! While a popup is open, `localStorage["mailconnect:busy:{key}"] = "{expiresMs} {serial}"` tells
//! the origin's other tabs (`interaction_in_progress`); it is renewed while the popup is open and
//! expires [`BUSY_TTL_MS`] after its tab stops, so it never wedges.

use crate::browser::{call, deferred, delay, get, is_plain, local_storage, now, object, origin, window, Local};
use crate::error::{concat, decimal, fail, Code, Result};
use crate::prelude::*;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use core::future::Future;
use js_sys::{Function, Promise};
use mailconnect_core::encoding::parse_decimal;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent, Window};

pub(crate) const CALLBACK: &str = "mailconnect:callback";
pub(crate) const ACK: &str = "mailconnect:ack";
const POLL_MS: i32 = 250;
/// Lifetime of the cross-tab busy marker, renewed while the popup is open.
const BUSY_TTL_MS: f64 = 5_000.0;
/// How long the window must read as open on another origin to count as seen at the provider:
/// longer than a COOP sever takes to reach this page, even on a loaded machine.
const AWAY_MS: f64 = 1_000.0;

/// A sign-in of this tab waiting for its popup.
struct Pending {
    key: String,
    serial: u32,
    popup: Window,
    promise: Promise,
    watch: Shared,
}

static PENDING: Local<RefCell<Vec<Pending>>> = Local(RefCell::new(Vec::new()));
static SERIAL: Local<Cell<u32>> = Local(Cell::new(0));

/// Opens the sign-in window centred over this one; `None` when a blocker refused it.
pub(crate) fn open(url: &str) -> Option<Window> {
    let w = window();
    let number = |v: core::result::Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let (width, height) = (520.0, 680.0);
    // Integers, like the window's own coordinates (0 where a browser hides them).
    let left = number(w.screen_x()) + ((number(w.outer_width()) - width).max(0.0) / 2.0);
    let top = number(w.screen_y()) + ((number(w.outer_height()) - height).max(0.0) / 2.0);
    let features = concat(&["popup,width=520,height=680,left=", &signed(left), ",top=", &signed(top)]);
    w.open_with_url_and_target_and_features(url, "_blank", &features).ok().flatten()
}

fn signed(n: f64) -> String {
    let digits = decimal(n.abs() as u64);
    if n <= -1.0 {
        concat(&["-", &digits])
    } else {
        digits
    }
}

/// Whether a popup handle reads as closed (closed, or severed by COOP).
fn is_closed(popup: &Window) -> bool {
    popup.closed().map_or(true, |closed| closed)
}

/// Reading another origin's location throws: the user is at the provider.
fn readable(popup: &Window) -> bool {
    popup.location().href().is_ok()
}

/// The promise of this tab's sign-in for `key` while its window is open (and focuses it). A
/// sign-in whose window reads as closed is cancelled with `popup_closed`, so the caller starts
/// afresh.
pub(crate) fn reuse(key: &str) -> Option<Promise> {
    let found = PENDING.with(|p| p.borrow().iter().find(|e| e.key == key).map(|e| (e.popup.clone(), e.promise.clone(), e.watch.clone())));
    let (popup, promise, watch) = found?;
    if is_closed(&popup) {
        done(&watch, Err(popup_closed()));
        return None;
    }
    // A severed handle cannot be focused.
    let _ = popup.focus();
    Some(promise)
}

/// Whether another tab has a sign-in window for `key` open right now. Without localStorage
/// nothing blocks.
pub(crate) fn busy_elsewhere(key: &str) -> bool {
    let marker = local_storage().and_then(|s| s.get_item(&busy_key(key)).ok().flatten()).unwrap_or_default();
    let expires = marker.split(' ').next().and_then(parse_decimal);
    expires.is_some_and(|at| at as f64 > now())
}

fn busy_key(key: &str) -> String {
    concat(&["mailconnect:busy:", key])
}

fn write_busy(key: &str, serial: u32) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(&busy_key(key), &concat(&[&decimal((now() + BUSY_TTL_MS) as u64), " ", &decimal(serial.into())]));
    }
}

/// Removes the marker if it is still this sign-in's (a newer one may have replaced it).
fn clear_busy(key: &str, serial: u32) {
    let Some(storage) = local_storage() else { return };
    let name = busy_key(key);
    let mine = storage.get_item(&name).ok().flatten().is_some_and(|m| m.split(' ').nth(1) == Some(decimal(serial.into()).as_str()));
    if mine {
        let _ = storage.remove_item(&name);
    }
}

fn popup_closed() -> JsValue {
    fail(Code::PopupClosed, "the sign-in window was closed before sign-in finished: connect again")
}

struct Watch {
    key: String,
    serial: u32,
    popup: Window,
    state: String,
    resolve: Function,
    reject: Function,
    channel: BroadcastChannel,
    /// Since when the window reads as open on another origin (0: it does not).
    away_since: f64,
    seen_away: bool,
    closed_once: bool,
    severed: bool,
    renewed: f64,
    poll: i32,
    timer: i32,
    /// The window's `message` listener and the channel's `onmessage`.
    on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_poll: Closure<dyn FnMut()>,
    _on_timeout: Closure<dyn FnMut()>,
}

type Shared = Rc<RefCell<Option<Watch>>>;

/// Settles the sign-in once: stops listening and polling, acknowledges a response, closes the
/// popup (a severed handle ignores this; the callback page then closes itself).
fn done(shared: &Shared, outcome: Result<JsValue>) {
    let Some(w) = shared.borrow_mut().take() else { return };
    let win = window();
    let _ = win.remove_event_listener_with_callback("message", w.on_message.as_ref().unchecked_ref());
    win.clear_interval_with_handle(w.poll);
    win.clear_timeout_with_handle(w.timer);
    PENDING.with(|p| p.borrow_mut().retain(|e| !(e.key == w.key && e.serial == w.serial)));
    clear_busy(&w.key, w.serial);
    if outcome.is_ok() {
        let _ = w.channel.post_message(&object(&[("type", &ACK.into()), ("state", &w.state.as_str().into())]));
    }
    w.channel.set_onmessage(None);
    w.channel.close();
    let _ = w.popup.close();
    match outcome {
        Ok(params) => call(&w.resolve, &params),
        Err(e) => call(&w.reject, &e),
    }
}

/// Accepts `data` if it is the callback page's response for this sign-in.
fn accept(shared: &Shared, data: &JsValue) {
    let matches = shared.borrow().as_ref().is_some_and(|w| {
        // The state is no secret from this origin (it is in the popup's URL); core compares it
        // again, in constant time, before the code is used.
        is_plain(data) && get(data, "type").as_string().as_deref() == Some(CALLBACK) && get(data, "state").as_string().as_deref() == Some(&w.state)
    });
    let params = get(data, "params");
    if matches && (params.is_undefined() || params.is_null() || params.is_string()) {
        done(shared, Ok(data.clone()));
    }
}

/// Waits for the callback page's response to `state` in `popup`, then resolves with what
/// `then(params, redirect_uri)` makes of it (the response, and where it arrived). Listens at
/// once, before the caller yields to the event loop.
pub(crate) fn watch<F, Fut>(key: String, popup: Window, state: String, timeout_ms: f64, then: F) -> Result<Promise>
where
    F: FnOnce(String, String) -> Fut + 'static,
    Fut: Future<Output = Result<JsValue>> + 'static,
{
    let serial = SERIAL.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    let channel = BroadcastChannel::new(&concat(&["mailconnect:", &state])).map_err(|_| crate::error::refused("BroadcastChannel"))?;
    let shared: Shared = Rc::new(RefCell::new(None));
    let win = window();

    // One listener for both: a channel's messages carry their sender's origin too (always this
    // one), so the check costs nothing there and the wasm holds one closure less.
    let on_message = {
        let shared = shared.clone();
        let here = origin();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if event.origin() == here {
                accept(&shared, &event.data());
            }
        })
    };
    let on_poll = {
        let shared = shared.clone();
        Closure::<dyn FnMut()>::new(move || poll(&shared))
    };
    let on_timeout = {
        let shared = shared.clone();
        let seconds = decimal((timeout_ms as u64).div_ceil(1000));
        Closure::<dyn FnMut()>::new(move || {
            let message = concat(&["sign-in did not finish within ", &seconds, " seconds: connect again"]);
            done(&shared, Err(fail(Code::Timeout, &message)));
        })
    };
    let _ = win.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let poll = win.set_interval_with_callback_and_timeout_and_arguments_0(on_poll.as_ref().unchecked_ref(), POLL_MS).unwrap_or_default();
    let timer = win.set_timeout_with_callback_and_timeout_and_arguments_0(on_timeout.as_ref().unchecked_ref(), delay(timeout_ms)).unwrap_or_default();
    write_busy(&key, serial);

    let (params, resolve, reject) = deferred();
    *shared.borrow_mut() = Some(Watch {
        key: key.clone(),
        serial,
        popup: popup.clone(),
        state,
        resolve,
        reject,
        channel,
        away_since: 0.0,
        seen_away: false,
        closed_once: false,
        severed: false,
        renewed: now(),
        poll,
        timer,
        on_message,
        _on_poll: on_poll,
        _on_timeout: on_timeout,
    });
    let promise = crate::browser::promise(async move {
        let message = JsFuture::from(params).await?;
        let text = |key| get(&message, key).as_string().unwrap_or_default();
        then(text("params"), text("redirectUri")).await
    });
    PENDING.with(|p| p.borrow_mut().push(Pending { key, serial, popup, promise: promise.clone(), watch: shared }));
    Ok(promise)
}

fn poll(shared: &Shared) {
    let closed_by_user = {
        let mut guard = shared.borrow_mut();
        let Some(w) = guard.as_mut() else { return };
        if w.severed {
            return;
        }
        if !is_closed(&w.popup) {
            if readable(&w.popup) {
                w.away_since = 0.0;
            } else if w.away_since == 0.0 {
                w.away_since = now();
            } else {
                w.seen_away |= now() - w.away_since >= AWAY_MS;
            }
            if now() - w.renewed > BUSY_TTL_MS / 4.0 {
                write_busy(&w.key, w.serial);
                w.renewed = now();
            }
            false
        } else if !w.seen_away {
            w.severed = true;
            clear_busy(&w.key, w.serial);
            false
        } else if w.closed_once {
            // Closed on two polls in a row: not a callback racing the close.
            true
        } else {
            w.closed_once = true;
            false
        }
    };
    if closed_by_user {
        done(shared, Err(popup_closed()));
    }
}
