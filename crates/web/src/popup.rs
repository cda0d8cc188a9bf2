//! Sign-in in a popup window, and the callback page's half of it.
//!
//! # Protocol
//! The callback page posts `{type: "mailconnect:callback", state, params}` (`params` is the raw
//! query or fragment) to `window.opener` with its own origin as the target origin, and on the
//! `BroadcastChannel` named `mailconnect:{state}`. The opener answers
//! `{type: "mailconnect:ack", state}` on that channel, and the callback page closes itself once
//! acknowledged; without an answer it reports `unknown_state`.
//!
//! # Cross-Origin-Opener-Policy
//! When the app is served with `Cross-Origin-Opener-Policy: same-origin` (or the provider's page
//! sets one), the browser severs the popup from its opener as soon as it shows the provider:
//! `popup.closed` turns true although the window is open, and the callback page has no
//! `window.opener`. A severed handle looks exactly like a closed one, so the watcher tells them
//! apart by history: a window it has seen open on another origin and then sees closed was closed
//! by the user (`popup_closed`); a window that reads as closed without ever having been seen on
//! another origin was severed, and the watcher keeps waiting on the channel until the timeout.
//! Calling `connect()` again replaces such a sign-in, so a user who closes a severed window is
//! never stuck.
//!
//! # Security
//! The opener accepts window messages only from its own origin (a `BroadcastChannel` is
//! same-origin by construction) and only for the state it waits for, compared in constant time;
//! core's `Callback::verify` then checks state and issuer again before the code is redeemed.

use crate::dom::{local_storage, now, oneshot, origin, window, EventListener, Receiver, Sender, Timer};
use crate::error::WebError;
use mailconnect_core::State;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent, Window};

const CALLBACK: &str = "mailconnect:callback";
const ACK: &str = "mailconnect:ack";
/// How often the watcher looks at the popup.
const POLL_MS: u32 = 250;
/// How long the callback page waits for an acknowledgement.
const ACK_WAIT_MS: u32 = 3_000;
/// Lifetime of the cross-tab "signing in" marker, renewed while the popup is open.
const BUSY_TTL_MS: f64 = 5_000.0;
const BUSY_PREFIX: &str = "mailconnect:busy:";

/// The message between the callback page and the opener.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    params: String,
}

impl Message {
    fn new(kind: &str, state: &str, params: &str) -> Self {
        Message { kind: kind.to_owned(), state: state.to_owned(), params: params.to_owned() }
    }

    fn to_js(&self) -> JsValue {
        self.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect_throw("unreachable: Message serializes")
    }

    /// The message in `event` if it is of `kind` and for a state `matches` accepts.
    fn read(event: &web_sys::Event, kind: &str, matches: impl Fn(&str) -> bool) -> Option<Self> {
        let data = event.unchecked_ref::<MessageEvent>().data();
        crate::de::from_js::<Message>(data).ok().filter(|m| m.kind == kind && matches(&m.state))
    }
}

fn channel_name(state: &str) -> String {
    ["mailconnect:", state].concat()
}

/// Opens the sign-in window centred over this one; `None` when a blocker refused it. Must run in
/// the task of the user's click: browsers allow popups only there.
pub(crate) fn open(url: &str) -> Option<Window> {
    let w = window();
    let (width, height) = (520, 680);
    // Integers only: formatting an f64 would pull ~25 KB of float printing into the module.
    let num = |v: Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as i32;
    let left = num(w.screen_x()) + (num(w.outer_width()) - width).max(0) / 2;
    let top = num(w.screen_y()) + (num(w.outer_height()) - height).max(0) / 2;
    let features = format!("popup,width={width},height={height},left={left},top={top}");
    w.open_with_url_and_target_and_features(url, "_blank", &features).ok().flatten()
}

/// A sign-in popup this tab is waiting for.
#[derive(Debug)]
struct Entry {
    key: String,
    serial: u32,
    popup: Window,
    promise: Option<js_sys::Promise>,
    cancel: Sender<Result<String, WebError>>,
}

thread_local! {
    static PENDING: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    static SERIAL: Cell<u32> = const { Cell::new(0) };
}

/// The promise of this tab's sign-in for `key` while its window is open (the window is focused):
/// a second click joins the first sign-in. A sign-in whose window reads as closed (closed, or
/// severed by COOP) is cancelled with `popup_closed`, so the caller can start afresh.
pub(crate) fn reuse(key: &str) -> Option<js_sys::Promise> {
    PENDING.with_borrow_mut(|pending| {
        let i = pending.iter().position(|e| e.key == key)?;
        let entry = &pending[i];
        if entry.popup.closed().unwrap_or(true) {
            entry.cancel.send(Err(WebError::PopupClosed));
            clear_busy(key, entry.serial);
            pending.remove(i);
            return None;
        }
        let _ = entry.popup.focus();
        entry.promise.clone()
    })
}

/// Fails when another tab has a sign-in window for `key` open right now. Its marker expires
/// within [`BUSY_TTL_MS`] of that tab closing or reloading, so it never wedges. Without
/// localStorage (some privacy modes) there are no markers, and nothing blocks.
pub(crate) fn ensure_no_other_tab(key: &str, connector: &str) -> Result<(), WebError> {
    let marker = local_storage().ok().and_then(|s| s.get_item(&[BUSY_PREFIX, key].concat()).ok().flatten());
    let expires = marker.as_deref().and_then(busy_expiry);
    match expires {
        Some(at) if at > now() => Err(WebError::InteractionInProgress(connector.to_owned())),
        _ => Ok(()),
    }
}

/// A marker is `{expires_ms} {serial}`, in integers (float parsing and printing cost ~30 KB).
fn busy_expiry(value: &str) -> Option<f64> {
    value.split(' ').next()?.parse::<u64>().ok().map(|ms| ms as f64)
}

fn set_busy(key: &str, serial: u32) {
    if let Ok(storage) = local_storage() {
        let _ = storage.set_item(&[BUSY_PREFIX, key].concat(), &format!("{} {serial}", (now() + BUSY_TTL_MS) as u64));
    }
}

/// Removes the marker if it is still this sign-in's (a newer one may have replaced it).
fn clear_busy(key: &str, serial: u32) {
    let Ok(storage) = local_storage() else { return };
    let name = [BUSY_PREFIX, key].concat();
    let ours = storage.get_item(&name).ok().flatten().is_some_and(|v| v.split(' ').nth(1) == Some(serial.to_string().as_str()));
    if ours {
        let _ = storage.remove_item(&name);
    }
}

/// Lets a second `connect()` in this tab join the sign-in `id` (from [`Watch::id`]).
pub(crate) fn share(id: u32, promise: &js_sys::Promise) {
    PENDING.with_borrow_mut(|p| p.iter_mut().filter(|e| e.serial == id).for_each(|e| e.promise = Some(promise.clone())));
}

/// Watches an open sign-in window until its callback arrives, it is closed, or time runs out.
#[must_use = "dropping the watch stops listening for the callback"]
#[derive(Debug)]
pub(crate) struct Watch {
    key: String,
    serial: u32,
    state: String,
    popup: Window,
    channel: BroadcastChannel,
    result: Option<Receiver<Result<String, WebError>>>,
    _window_message: EventListener,
    _channel_message: EventListener,
    _poll: Timer,
    _timeout: Timer,
}

impl Watch {
    /// Starts listening at once, before the caller yields to the event loop.
    pub(crate) fn start(key: &str, popup: Window, state: &State, timeout_ms: u32) -> Result<Self, WebError> {
        let serial = SERIAL.with(|s| {
            s.set(s.get().wrapping_add(1));
            s.get()
        });
        let channel = BroadcastChannel::new(&channel_name(state.expose())).map_err(|_| WebError::Browser("BroadcastChannel"))?;
        let (send, result) = oneshot();

        let accept = |send: Sender<_>, check_origin: bool| {
            let (state, origin) = (state.clone(), origin());
            move |event: web_sys::Event| {
                if check_origin && event.unchecked_ref::<MessageEvent>().origin() != origin {
                    return;
                }
                if let Some(m) = Message::read(&event, CALLBACK, |s| state.matches(s)) {
                    send.send(Ok(m.params));
                }
            }
        };
        let window_message = EventListener::new(&window(), "message", accept(send.clone(), true));
        let channel_message = EventListener::new(&channel, "message", accept(send.clone(), false));

        set_busy(key, serial);
        let poll = {
            let (popup, send, key) = (popup.clone(), send.clone(), key.to_owned());
            let (mut seen_away, mut closed_once, mut severed, mut renewed) = (false, false, false, now());
            Timer::every(POLL_MS, move || {
                if severed {
                    return;
                }
                if !popup.closed().unwrap_or(true) {
                    // Reading another origin's location throws: the user is at the provider.
                    seen_away |= popup.location().href().is_err();
                    if now() - renewed > BUSY_TTL_MS / 4.0 {
                        set_busy(&key, serial);
                        renewed = now();
                    }
                } else if !seen_away {
                    severed = true;
                    clear_busy(&key, serial);
                } else if closed_once {
                    // Closed on two polls in a row: not a callback racing the close.
                    send.send(Err(WebError::PopupClosed));
                } else {
                    closed_once = true;
                }
            })
        };
        let timeout = {
            let send = send.clone();
            Timer::once(timeout_ms, move || send.send(Err(WebError::Timeout(timeout_ms.div_ceil(1000)))))
        };
        PENDING.with_borrow_mut(|p| p.push(Entry { key: key.to_owned(), serial, popup: popup.clone(), promise: None, cancel: send }));
        Ok(Watch {
            key: key.to_owned(),
            serial,
            state: state.expose().to_owned(),
            popup,
            channel,
            result: Some(result),
            _window_message: window_message,
            _channel_message: channel_message,
            _poll: poll,
            _timeout: timeout,
        })
    }

    /// Identifies this sign-in for [`share`].
    pub(crate) fn id(&self) -> u32 {
        self.serial
    }

    /// The response parameters, once the callback page delivered them.
    pub(crate) async fn params(mut self) -> Result<String, WebError> {
        // The listeners and timers in `self` stay alive while this awaits.
        let result = self.result.take().expect_throw("unreachable: params consumes the watch").recv().await;
        if result.is_ok() {
            let _ = self.channel.post_message(&Message::new(ACK, &self.state, "").to_js());
        }
        // A severed handle ignores this; the callback page then closes itself.
        let _ = self.popup.close();
        result
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        PENDING.with_borrow_mut(|p| p.retain(|e| e.serial != self.serial));
        clear_busy(&self.key, self.serial);
        self.channel.close();
    }
}

/// The callback page's half: hands `params` to the window waiting for `state`, then closes this
/// window. `unknown_state` when nobody acknowledges in time.
pub(crate) async fn deliver(state: &str, params: &str) -> Result<(), WebError> {
    let w = window();
    let channel = BroadcastChannel::new(&channel_name(state)).map_err(|_| WebError::Browser("BroadcastChannel"))?;
    let (send, acked) = oneshot();
    let _ack = {
        let (send, state) = (send.clone(), state.to_owned());
        EventListener::new(&channel, "message", move |event| {
            if Message::read(&event, ACK, |s| s == state).is_some() {
                send.send(true);
            }
        })
    };
    let _give_up = Timer::once(ACK_WAIT_MS, move || send.send(false));

    let message = Message::new(CALLBACK, state, params).to_js();
    // A cross-origin opener is a different realm: `instanceof Window` would fail, so no dyn_into.
    let opener = w.opener().unwrap_or(JsValue::NULL);
    if !opener.is_null() && !opener.is_undefined() {
        let _ = opener.unchecked_into::<Window>().post_message(&message, &origin());
    }
    let _ = channel.post_message(&message);

    let delivered = acked.recv().await;
    channel.close();
    if delivered {
        let _ = w.close();
        Ok(())
    } else {
        Err(WebError::UnknownState)
    }
}
