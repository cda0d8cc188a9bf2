//! Whose the browser's edge session is: binding it to the webmail's user with a ticket, ending it,
//! and the binding's generation, which keeps tokens and `change` events from crossing users.
//!
//! With user binding on at the edge, every browser route of an unbound session answers
//! `ticket_required`. `Edge` (edge_client.rs) then calls the page's ticket function, POSTs the
//! ticket to `/session/bind` (one bind at a time per edge in a page) and sends the request once
//! more.
//!
//! # Security
//! The edge keeps one session per browser, so a sign-out and the next user's sign-in happen under
//! the same cookie while other tabs may still hold the previous user's tokens. Every bind and every
//! end therefore starts a new generation of the browser's binding to that edge: a random id kept in
//! localStorage `mailconnect:{base}:binding` (so a tab opened later starts in it) and posted on the
//! BroadcastChannel `mailconnect:{base}` as `{binding, connectors}`, where every `Connector` of
//! every tab forgets its token and fires `change` with the new user's status. A token is served
//! from memory, and taken from another tab's message, only in the generation it was fetched in;
//! an edge answer that arrives after the generation changed is refused (`session_changed`). So
//! however the tabs' messages interleave, a page never gets a token of the previous binding.

use crate::browser::{get, local_storage, object, promise, Local};
use crate::cache::status_js;
use crate::edge_client::Edge;
use crate::error::{concat, fail, Code, Result};
use crate::prelude::*;
use core::cell::RefCell;
use js_sys::{Array, Function, Promise};
use mailconnect_core::contract::SessionInfo;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

/// Each edge's generation in this page, `(base, generation)`.
static GENERATIONS: Local<RefCell<Vec<(String, String)>>> = Local(RefCell::new(Vec::new()));
/// The bind in flight in this page, `(base, promise)`.
static BINDING: Local<RefCell<Option<(String, Promise)>>> = Local(RefCell::new(None));

fn channel_name(base: &str) -> String {
    concat(&["mailconnect:", base])
}

fn storage_key(base: &str) -> String {
    concat(&["mailconnect:", base, ":binding"])
}

/// The current generation of the browser's binding to the edge at `base` ("" before any bind or
/// end this browser remembers).
pub(crate) fn generation(base: &str) -> String {
    GENERATIONS.with(|all| {
        if let Some((_, g)) = all.borrow().iter().find(|(b, _)| b == base) {
            return g.clone();
        }
        let g = local_storage().and_then(|s| s.get_item(&storage_key(base)).ok().flatten()).unwrap_or_default();
        all.borrow_mut().push((base.to_owned(), g.clone()));
        g
    })
}

fn set_generation(base: &str, g: &str) {
    generation(base);
    GENERATIONS.with(|all| {
        if let Some(entry) = all.borrow_mut().iter_mut().find(|(b, _)| b == base) {
            entry.1 = g.to_owned();
        }
    });
}

/// Starts a new generation in which the session holds `session`'s connectors, in every tab.
fn switch(base: &str, session: &SessionInfo) {
    // Only needs to differ from the generations before it.
    let g = String::from(js_sys::Number::from(js_sys::Math::random()).to_string_with_radix(36).unwrap_or_default());
    set_generation(base, &g);
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(&storage_key(base), &g);
    }
    let connectors = Array::new();
    for c in &session.connectors {
        let entry = object(&[("id", &c.id.as_str().into())]);
        crate::browser::set(&entry, "status", &status_js(true, c.account.as_ref()));
        connectors.push(&entry);
    }
    // A channel object of its own: every `Watch`, this tab's included, gets the message.
    if let Ok(channel) = BroadcastChannel::new(&channel_name(base)) {
        let _ = channel.post_message(&object(&[("binding", &g.as_str().into()), ("connectors", &connectors)]));
        channel.close();
    }
}

/// Binds the browser's session at `base` to the user of a fresh ticket from `ticket`; a bind
/// already in flight in this page is joined instead.
pub(crate) async fn bind(base: &str, ticket: &Function) -> Result<()> {
    let joined = BINDING.with(|b| b.borrow().as_ref().filter(|(b, _)| b == base).map(|(_, p)| p.clone()));
    let running = match joined {
        Some(p) => p,
        None => {
            let (edge, ticket) = (base.to_owned(), ticket.clone());
            let p = promise(async move {
                let result = async {
                    let ticket = fresh_ticket(&ticket).await?;
                    let session = Edge::new(&edge, "").bind(&ticket).await?;
                    switch(&edge, &session);
                    Ok(JsValue::UNDEFINED)
                }
                .await;
                BINDING.with(|b| b.borrow_mut().take());
                result
            });
            BINDING.with(|b| *b.borrow_mut() = Some((base.to_owned(), p.clone())));
            p
        }
    };
    JsFuture::from(running).await.map(drop)
}

/// Forgets the tokens of the edge at `base` in every tab, then ends the browser's session there.
pub(crate) async fn end(base: &str) -> Result<()> {
    // First, so that nothing of the session outlives a failed request.
    switch(base, &SessionInfo::default());
    Edge::new(base, "").end().await.map(drop)
}

/// What the page's ticket function resolves with; `ticket_unavailable` when it throws, rejects
/// or gives no string (the webmail's user is signed out, or its back end is down).
async fn fresh_ticket(ticket: &Function) -> Result<String> {
    let unavailable = || fail(Code::TicketUnavailable, "the ticket function gave no ticket: sign in to the webmail again");
    let answer = ticket.call0(&JsValue::UNDEFINED).map_err(|_| unavailable())?;
    let answer = JsFuture::from(Promise::resolve(&answer)).await.map_err(|_| unavailable())?;
    answer.as_string().filter(|t| !t.is_empty()).ok_or_else(unavailable)
}

/// One `Connector`'s ear on its edge's binding: on a new generation it calls `reset` with the
/// connector's `Status` in it. Stops listening when dropped.
#[derive(Debug)]
pub(crate) struct Watch {
    channel: BroadcastChannel,
    _listener: Closure<dyn FnMut(MessageEvent)>,
}

impl Watch {
    pub(crate) fn new(base: &str, connector: &str, reset: impl Fn(&JsValue) + 'static) -> Option<Watch> {
        let channel = BroadcastChannel::new(&channel_name(base)).ok()?;
        let (base, connector) = (base.to_owned(), connector.to_owned());
        // The generation this connector last reset for: this tab's own switch reaches it by message too.
        let applied = RefCell::new(generation(&base));
        let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            let Some(g) = get(&data, "binding").as_string() else { return };
            if *applied.borrow() == g {
                return;
            }
            set_generation(&base, &g);
            *applied.borrow_mut() = g;
            let connectors = get(&data, "connectors");
            let mine = Array::is_array(&connectors)
                .then(|| Array::from(&connectors).iter().find(|c| get(c, "id").as_string().as_deref() == Some(connector.as_str())))
                .flatten();
            reset(&mine.map_or_else(|| status_js(false, None), |c| get(&c, "status")));
        });
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Some(Watch { channel, _listener: listener })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
