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
//! end therefore starts a new generation of the browser's binding: a random id kept in
//! localStorage `mailconnect:binding` (so a tab opened later starts in it) and posted on the
//! edge's BroadcastChannel `mailconnect:{base}` as `{binding, connectors}`, where every
//! `Connector` of every tab forgets its token and fires `change` with the new user's status. A
//! token is served from memory, and taken from another tab's message, only in the generation it
//! was fetched in; an edge answer that arrives after the generation changed is refused
//! (`session_changed`). So however the tabs' messages interleave, a page never gets a token of
//! the previous binding.

use crate::browser::{local_storage, object, promise, Local};
use crate::cache::status_js;
use crate::edge_client::Edge;
use crate::error::{concat, fail, Code, Result};
use crate::prelude::*;
use core::cell::RefCell;
use js_sys::{Function, Promise};
use mailconnect_core::contract::SessionInfo;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::BroadcastChannel;

/// The generation of the browser's binding, once this page has read it.
static GENERATION: Local<RefCell<Option<String>>> = Local(RefCell::new(None));
/// The bind in flight in this page, `(base, promise)`.
static BINDING: Local<RefCell<Option<(String, Promise)>>> = Local(RefCell::new(None));

/// Where a tab opened later finds the current generation.
const STORAGE_KEY: &str = "mailconnect:binding";

/// The current generation of the browser's binding ("" before any bind or end this browser
/// remembers). One for the origin: a bind or an end at any edge means its user changed.
pub(crate) fn generation() -> String {
    GENERATION.with(|g| g.borrow_mut().get_or_insert_with(|| local_storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()).unwrap_or_default()).clone())
}

/// Another tab started generation `g` (cache.rs hears it).
pub(crate) fn set_generation(g: String) {
    GENERATION.with(|current| *current.borrow_mut() = Some(g));
}

/// The BroadcastChannel of the edge at `base`'s bindings.
pub(crate) fn channel(base: &str) -> Option<BroadcastChannel> {
    BroadcastChannel::new(&concat(&["mailconnect:", base])).ok()
}

/// Starts a new generation in which the session at `base` holds `session`'s connectors, in
/// every tab: `{binding, connectors: {[id]: Status}}`.
fn switch(base: &str, session: &SessionInfo) {
    // Only needs to differ from the generations before it.
    let g = String::from(js_sys::Number::from(js_sys::Math::random()).to_string_with_radix(36).unwrap_or_default());
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(STORAGE_KEY, &g);
    }
    let connectors = js_sys::Object::new();
    for c in &session.connectors {
        crate::browser::set(&connectors, &c.id, &status_js(true, c.account.as_ref()));
    }
    // A channel object of its own: every `Connector`, this tab's included, gets the message.
    if let Some(channel) = channel(base) {
        let _ = channel.post_message(&object(&[("binding", &g.as_str().into()), ("connectors", &connectors)]));
        channel.close();
    }
    set_generation(g);
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
