//! The redirect URI's page: finishes a sign-in. It reads the response from the query or fragment
//! and removes it from the address bar and history before anything can fail, synchronously. Then
//! it finishes the sign-in this tab started (redirect mode), or hands the response to the window
//! that opened it (popup mode). An admin's return from a connector's admin-consent URL (state =
//! core's `ADMIN_CONSENT_STATE`) is reported as such: it redeems nothing.
//!
//! # Security
//! The response is attacker-controlled input: core's `Callback::verify` checks its `state` (in
//! constant time), that it arrived at the redirect URI its request named (RFC 9700 §4.4.2) and
//! `iss` (RFC 9207) before the code is used. Any script of the origin can write sessionStorage,
//! so a redirect sign-in's stored entry is trusted only where it agrees with the connector's own
//! settings: its edge must be the one this page names (`handleCallback({edge})`), its issuer and
//! redirect URI those the edge gives for the connector, all before the code or verifier is sent
//! anywhere; its `returnTo` is checked again (core's `ReturnTo`).

use crate::browser::{absent, call, deferred, get, is_plain, object, only_keys, origin, window};
use crate::error::{concat, core_error, fail, misconfigured, refused, Code, Result};
use crate::popup::{ACK, CALLBACK};
use crate::prelude::*;
use crate::{cache, edge_client::Edge, redirect};
use js_sys::Promise;
use mailconnect_core::contract::ConnectorInfo;
use mailconnect_core::{Callback, CoreError, Expected, PkceVerifier, ReturnTo, State};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

/// How long the callback page waits for the app's acknowledgement.
const ACK_WAIT_MS: i32 = 3_000;

/// `handleCallback(options)`.
pub(crate) fn handle(options: &JsValue) -> Result<Promise> {
    let location = window().location();
    let params = [location.search(), location.hash()].into_iter().filter_map(|p| p.ok()).find(|p| Callback::parse(p).is_some());
    let Some(params) = params else {
        return Err(fail(Code::NotACallback, "this page's address carries no sign-in response; open it only as the OAuth redirect URI"));
    };
    if let Ok(history) = window().history() {
        // A sandboxed document refuses: the code stays in its address, but the sign-in can finish.
        let _ = history.replace_state_with_url(&JsValue::NULL, "", location.pathname().ok().as_deref());
    }
    let edge = get(options, "edge");
    if !(absent(options) || only_keys(options, &["edge"])) || !(absent(&edge) || edge.is_string()) {
        return Err(misconfigured("invalid CallbackOptions: expected { edge?: string }"));
    }
    // The default is where the documentation puts the edge: under /oauth on the app's host.
    let edge = edge.as_string().unwrap_or_else(|| concat(&[&origin(), "/oauth"]));
    let callback = Callback::parse(&params).unwrap_or_default();
    if callback.is_admin_consent() {
        let consent = callback.admin_consent().map_err(|e| core_error(&e))?;
        let report = object(&[("adminConsent", &true.into())]);
        if let Some(tenant) = consent.tenant {
            crate::browser::set(&report, "tenant", &tenant.into());
        }
        return Ok(Promise::resolve(&JsValue::from(report)));
    }
    let state = callback.state().map(str::to_owned).ok_or_else(|| core_error(&CoreError::StateMismatch))?;
    Ok(crate::browser::promise(async move {
        match redirect::take(&state)? {
            Some(pending) => finish_redirect(&state, &params, pending, &edge).await,
            None => deliver(&state, &params).await,
        }
    }))
}

/// Where this page is: its URL without query or fragment, as a redirect URI names it.
fn reached() -> String {
    concat(&[&origin(), &window().location().pathname().unwrap_or_default()])
}

/// The authorization code of `params`, for the request to `info`'s provider with `redirect_uri`,
/// once core verified its `state`, that it `reached` that redirect URI, and its `iss`; the
/// provider's error, classified, if it sent one. The stored `verifier` is checked first.
pub(crate) fn verify(params: &str, state: &str, info: &ConnectorInfo, redirect_uri: &str, reached: &str, verifier: &str) -> Result<String> {
    PkceVerifier::parse(verifier).map_err(|e| core_error(&e))?;
    // Anything that does not parse has no state, so it cannot match.
    let callback = Callback::parse(params).unwrap_or_default();
    // As the browser writes a page's address: `https://a.example` is `https://a.example/`.
    let redirect_uri = web_sys::Url::new(redirect_uri).map_or_else(|_| redirect_uri.to_owned(), |u| concat(&[&u.origin(), &u.pathname()]));
    let state = State::new(state);
    let expected = Expected {
        state: &state,
        redirect_uri: &redirect_uri,
        issuer: info.issuer.as_deref(),
        iss_parameter_supported: info.authorization_response_iss_parameter_supported,
    };
    let code = callback.verify(&expected, reached).map_err(|e| core_error(&e))?;
    Ok(code.expose().to_owned())
}

/// Redeems the code of this tab's redirect sign-in at the edge this page trusts (`edge`), tells
/// the app's other tabs, and returns to the page the user left (`replace`, so Back does not land
/// on the spent callback page).
async fn finish_redirect(state: &str, params: &str, pending: redirect::PendingRedirect, edge: &str) -> Result<JsValue> {
    let planted = || fail(Code::PendingMismatch, "the stored sign-in does not match the connector's settings: connect again");
    let edge = Edge::resolve(edge, &pending.connector)?;
    if pending.edge != edge.base {
        return Err(planted());
    }
    let info = edge.info().await?;
    if pending.issuer != info.issuer || !info.redirect_uris.contains(&pending.redirect_uri) {
        return Err(planted());
    }
    let code = verify(params, state, &info, &pending.redirect_uri, &reached(), &pending.verifier)?;
    let token = edge.exchange(&code, &pending.verifier, &pending.redirect_uri).await?;
    cache::announce_elsewhere(&edge, &token);
    let back = ReturnTo::parse(&pending.return_to).map_err(|e| core_error(&e))?;
    window().location().replace(back.as_str()).map_err(|_| refused("location.replace"))?;
    Ok(JsValue::UNDEFINED)
}

/// Posts the response to the opener (with this origin as the target origin) and on the state's
/// channel (for an opener severed by COOP), then closes this window once the app acknowledges;
/// `unknown_state` when nobody does in time.
async fn deliver(state: &str, params: &str) -> Result<JsValue> {
    let channel = BroadcastChannel::new(&concat(&["mailconnect:", state])).map_err(|_| refused("BroadcastChannel"))?;
    let (acknowledged, resolve, reject) = deferred();
    let timer = {
        let reject = reject.clone();
        Closure::once_into_js(move || {
            let message =
                "no sign-in is waiting for this response (the page that started it was closed or reloaded, or it expired): close this window and connect again";
            call(&reject, &fail(Code::UnknownState, message));
        })
    };
    let win = window();
    let timer = win.set_timeout_with_callback_and_timeout_and_arguments_0(timer.unchecked_ref(), ACK_WAIT_MS).unwrap_or_default();
    let on_ack = {
        let state = state.to_owned();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            if is_plain(&data) && get(&data, "type").as_string().as_deref() == Some(ACK) && get(&data, "state").as_string().as_deref() == Some(&state) {
                call(&resolve, &JsValue::UNDEFINED);
            }
        })
    };
    channel.set_onmessage(Some(on_ack.as_ref().unchecked_ref()));
    let message = object(&[("type", &CALLBACK.into()), ("state", &state.into()), ("params", &params.into()), ("redirectUri", &reached().into())]);
    if let Ok(Some(opener)) = win.opener().map(|o| (!o.is_null() && !o.is_undefined()).then(|| o.unchecked_into::<web_sys::Window>())) {
        // A severed or foreign opener refuses: the channel carries it.
        let _ = opener.post_message(&message, &origin());
    }
    let _ = channel.post_message(&message);
    let outcome = JsFuture::from(acknowledged).await;
    win.clear_timeout_with_handle(timer);
    channel.set_onmessage(None);
    channel.close();
    drop(on_ack);
    outcome?;
    let _ = win.close();
    Ok(JsValue::UNDEFINED)
}
