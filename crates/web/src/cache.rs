//! Tokens across the origin's tabs, and the `change` event.
//!
//! The access token lives in memory only (a reloaded tab asks the edge again, whose session
//! cookie is HttpOnly). Refreshes run under the Web Lock `mailconnect:{edge}:{connector}`; the
//! refreshing tab posts `{token}` on the BroadcastChannel of that name and keeps the lock
//! [`LINGER_MS`] longer, so tabs queued on the lock find the token in memory instead of
//! refreshing again. A connect, a disconnect or a grant the edge reports gone also posts
//! `change: Status` there, which every `Connector` of that edge and connector, in every tab,
//! dispatches as a `change` event (the tab that caused it dispatches its own at once).
//!
//! Every token in memory and every message carries the generation of the browser's binding it
//! belongs to (session.rs): one of another generation is never served, kept or dispatched, and a
//! new generation (a bind, an end) clears the memory of every tab.

use crate::browser::{absent, call, deferred, get, is_plain, now, object, sleep, window};
use crate::edge_client::Edge;
use crate::error::{refused, Result};
use crate::prelude::*;
use crate::session;
use alloc::rc::Rc;
use core::cell::RefCell;
use core::future::Future;
use js_sys::{Function, JSON};
use mailconnect_core::contract::{Account, TokenResponse};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{BroadcastChannel, CustomEvent, CustomEventInit, EventTarget, MessageEvent};

/// How long the token lock outlives a refresh: far more than a message between tabs takes.
const LINGER_MS: i32 = 100;

/// `{name?, username?, oid?, tid?}`: the fields that are present.
pub(crate) fn account_js(account: &Account) -> JsValue {
    let o = js_sys::Object::new();
    for (key, value) in [("name", &account.name), ("username", &account.username), ("oid", &account.oid), ("tid", &account.tid)] {
        if let Some(v) = value {
            crate::browser::set(&o, key, &v.into());
        }
    }
    o.into()
}

/// A `Status`: `{connected, account?}`.
pub(crate) fn status_js(connected: bool, account: Option<&Account>) -> JsValue {
    let status = object(&[("connected", &connected.into())]);
    if let Some(a) = account {
        crate::browser::set(&status, "account", &account_js(a));
    }
    status.into()
}

/// One connector's token memory, channels and `change` listeners.
#[derive(Debug)]
pub(crate) struct Tokens {
    /// The `TokenInfo` in memory (`{accessToken, expiresAt, scope, account?}`) and its
    /// generation, shared with the listener.
    memory: Rc<RefCell<Option<(String, JsValue)>>>,
    channel: BroadcastChannel,
    /// The edge's channel, where a new binding is announced (session.rs).
    bindings: BroadcastChannel,
    events: EventTarget,
    margin_ms: f64,
    /// Both channels' `onmessage`, unset and dropped with this.
    _listener: Closure<dyn FnMut(MessageEvent)>,
}

impl Tokens {
    /// Listens on the channel `mailconnect:{edge.key()}` and on the edge's bindings.
    pub(crate) fn new(edge: &Edge, margin_ms: f64) -> Result<Tokens> {
        let channel = BroadcastChannel::new(&crate::error::concat(&["mailconnect:", &edge.key()]));
        let (Ok(channel), Some(bindings)) = (channel, session::channel(&edge.base)) else { return Err(refused("BroadcastChannel")) };
        let events = EventTarget::new().map_err(|_| refused("EventTarget"))?;
        let memory = Rc::new(RefCell::new(None));
        let listener = {
            let (memory, events, connector) = (memory.clone(), events.clone(), edge.connector.clone());
            // A message that is neither `{token}` nor `{change}` nor a binding is not ours; the
            // channels are same-origin by construction. One of another binding is the previous user's.
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                let (binding, connectors) = (get(&data, "binding").as_string(), get(&data, "connectors"));
                if let (Some(binding), true) = (binding.clone(), is_plain(&connectors)) {
                    session::set_generation(binding);
                    *memory.borrow_mut() = None;
                    let status = get(&connectors, &connector);
                    dispatch(&events, &if is_plain(&status) { status } else { status_js(false, None) });
                    return;
                }
                let generation = session::generation();
                if !is_plain(&data) || binding.as_deref() != Some(generation.as_str()) {
                    return;
                }
                if js_sys::Reflect::has(&data, &"token".into()).unwrap_or(false) {
                    let token = get(&data, "token");
                    *memory.borrow_mut() = (!absent(&token)).then_some((generation, token));
                }
                let change = get(&data, "change");
                if is_plain(&change) {
                    dispatch(&events, &change);
                }
            })
        };
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        bindings.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Ok(Tokens { memory, channel, bindings, events, margin_ms, _listener: listener })
    }

    /// The target of `change` events.
    pub(crate) fn events(&self) -> &EventTarget {
        &self.events
    }

    /// A copy of the token in memory, if it outlives the margin.
    pub(crate) fn current(&self) -> Option<JsValue> {
        let memory = self.memory.borrow();
        let (generation, token) = memory.as_ref()?;
        if *generation != session::generation() {
            return None;
        }
        let fresh = get(token, "expiresAt").as_f64().is_some_and(|at| at - self.margin_ms > now());
        fresh.then(|| copy(token))
    }

    /// Keeps a `TokenResponse` as a `TokenInfo`, shares it with the other tabs and returns a copy.
    /// `connected`: this token comes from a new sign-in, so a `change` goes with it.
    pub(crate) fn store(&self, response: &TokenResponse, connected: bool) -> JsValue {
        let token = token_info(response);
        *self.memory.borrow_mut() = Some((session::generation(), token.clone()));
        if connected {
            self.announce(&token, &status_js(true, response.account.as_ref()));
        } else {
            self.post(&object(&[("token", &token)]));
        }
        copy(&token)
    }

    /// Forgets the token here and in every tab, and tells them all the connector is disconnected.
    pub(crate) fn forget(&self) {
        *self.memory.borrow_mut() = None;
        self.announce(&JsValue::NULL, &status_js(false, None));
    }

    /// Posts `{token, change}` and dispatches the change here.
    fn announce(&self, token: &JsValue, change: &JsValue) {
        self.post(&object(&[("token", token), ("change", change)]));
        dispatch(&self.events, change);
    }

    fn post(&self, message: &js_sys::Object) {
        crate::browser::set(message, "binding", &session::generation().into());
        // Fails only once closed (the connector was freed): nobody left to tell.
        let _ = self.channel.post_message(message);
    }
}

impl Drop for Tokens {
    fn drop(&mut self) {
        for channel in [&self.channel, &self.bindings] {
            channel.set_onmessage(None);
            channel.close();
        }
    }
}

/// Posts `{token, change}` for a sign-in finished outside any `Connector` (the callback page of a
/// redirect), so the app's other tabs learn of it.
pub(crate) fn announce_elsewhere(edge: &Edge, response: &TokenResponse) {
    if let Ok(channel) = BroadcastChannel::new(&crate::error::concat(&["mailconnect:", &edge.key()])) {
        let message =
            object(&[("token", &token_info(response)), ("change", &status_js(true, response.account.as_ref())), ("binding", &session::generation().into())]);
        let _ = channel.post_message(&message);
        channel.close();
    }
}

/// A `TokenInfo`. Expiry by this browser's clock (`expires_in`, not the edge's `expires_at`):
/// immune to clock skew.
fn token_info(response: &TokenResponse) -> JsValue {
    let token = object(&[
        ("accessToken", &response.access_token.expose().into()),
        ("expiresAt", &(now() + response.expires_in as f64 * 1000.0).into()),
        ("scope", &response.scope.as_str().into()),
    ]);
    if let Some(a) = &response.account {
        crate::browser::set(&token, "account", &account_js(a));
    }
    token.into()
}

/// A deep copy, so a caller that changes what it got cannot change the memory.
fn copy(value: &JsValue) -> JsValue {
    JSON::stringify(value).ok().and_then(|s| JSON::parse(&String::from(s)).ok()).unwrap_or_default()
}

fn dispatch(events: &EventTarget, status: &JsValue) {
    let init = CustomEventInit::new();
    init.set_detail(status);
    if let Ok(event) = CustomEvent::new_with_event_init_dict("change", &init) {
        let _ = events.dispatch_event(&event);
    }
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (the Web Locks API is behind `web_sys_unstable_apis` in web-sys).
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> core::result::Result<js_sys::Promise, JsValue>;
}

/// Runs `f` under the exclusive Web Lock `name`, shared by the origin's tabs and released even
/// when a tab dies. The lock is kept [`LINGER_MS`] after `f` settles (its result is returned at
/// once). Without Web Locks (plain http off localhost), or when the browser refuses the lock
/// before `f` ran (an opaque origin), `f` runs unlocked: correct, less economical.
pub(crate) async fn with_lock<F, Fut>(name: &str, f: F) -> Result<JsValue>
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<JsValue>> + 'static,
{
    let locks = get(&window().navigator(), "locks");
    if absent(&locks) {
        return f().await;
    }
    let locks: LockManager = locks.unchecked_into();
    let (result, resolve, reject) = deferred();
    let task = Rc::new(RefCell::new(Some(f)));
    let run = {
        let (task, resolve, reject) = (task.clone(), resolve.clone(), reject.clone());
        move || {
            let f = task.borrow_mut().take();
            async move {
                if let Some(f) = f {
                    match f().await {
                        Ok(v) => call(&resolve, &v),
                        Err(e) => call(&reject, &e),
                    }
                }
            }
        }
    };
    let locked = run.clone();
    let callback = Closure::once_into_js(move |_lock: JsValue| {
        crate::browser::promise(async move {
            locked().await;
            sleep(LINGER_MS).await;
            Ok(JsValue::UNDEFINED)
        })
    });
    match locks.request(name, callback.unchecked_ref()) {
        Ok(request) => spawn_local(async move {
            if JsFuture::from(request).await.is_err() {
                run().await;
            }
        }),
        Err(_) => run().await,
    }
    JsFuture::from(result).await
}
