//! The browser half of the authorization code flow: the authorize URL (state and PKCE from the
//! browser's CSPRNG, SHA-256 in Rust so nothing here awaits), and the callback page, which hands
//! the response to whoever is waiting for it ([`popup`](crate::popup) or
//! [`redirect`](crate::redirect)) and has the edge redeem the code.
//!
//! # Security
//! The redirect is attacker-controlled input: core's `Callback::verify` checks `state` in
//! constant time and `iss` before the code is used. The code leaves the address bar and history
//! before anything else happens, and goes only to the edge, with the verifier.

use crate::dom::{random, window};
use crate::edge_client::EdgeClient;
use crate::error::WebError;
use crate::{popup, redirect};
use mailconnect_core::contract::{ConnectorInfo, TokenRequest, TokenResponse};
use mailconnect_core::{AuthorizationRequest, Callback, CoreError, PkceVerifier, Prompt, State};
use wasm_bindgen::prelude::*;

/// A sign-in about to start: its secrets and where to send the user.
#[derive(Debug)]
pub(crate) struct Authorization {
    pub(crate) state: State,
    pub(crate) verifier: PkceVerifier,
    pub(crate) url: String,
}

/// What a `connect()` call may add to the connector's own settings.
#[derive(Debug, Default)]
pub(crate) struct Hints<'a> {
    pub(crate) prompt: Option<Prompt>,
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) domain_hint: Option<&'a str>,
}

/// Fresh state and verifier, and the authorize URL for them. Synchronous on purpose: it runs
/// between the click and `window.open`.
pub(crate) fn begin(info: &ConnectorInfo, redirect_uri: &str, hints: &Hints<'_>) -> Result<Authorization, WebError> {
    let state = State::from_random(&random()?);
    let verifier = PkceVerifier::from_random(&random()?);
    let mut request = AuthorizationRequest::new(&info.authorize_url, &info.client_id, redirect_uri, &info.scope, &state, &verifier);
    // The caller's choice wins over the connector's; an unknown configured prompt is left out
    // rather than sent for the provider to reject.
    if let Some(prompt) = hints.prompt.or_else(|| info.prompt.as_deref().and_then(Prompt::parse)) {
        request = request.with_prompt(prompt);
    }
    if let Some(hint) = hints.login_hint {
        request = request.with_login_hint(hint);
    }
    if let Some(hint) = hints.domain_hint.or(info.domain_hint.as_deref()) {
        request = request.with_domain_hint(hint);
    }
    let url = request.url();
    Ok(Authorization { state, verifier, url })
}

/// Verifies the response `params` against `state` and the issuer, then has the edge redeem the
/// code.
pub(crate) async fn finish(
    edge: &EdgeClient,
    params: &str,
    state: &State,
    verifier: PkceVerifier,
    redirect_uri: &str,
    issuer: Option<&str>,
) -> Result<TokenResponse, WebError> {
    let code = Callback::parse(params).ok_or(WebError::NotACallback)?.verify(state, issuer)?;
    edge.exchange(&TokenRequest { code, code_verifier: verifier, redirect_uri: redirect_uri.to_owned() }).await
}

/// An authorization response read from this page's address.
#[derive(Debug)]
pub(crate) struct Response {
    state: String,
    params: String,
}

/// The callback page's first, synchronous step: reads the response from the query or the
/// fragment and removes it from the address bar and history before anything can fail.
pub(crate) fn take_response() -> Result<Response, WebError> {
    let location = window().location();
    let read = |part: Result<String, JsValue>| part.ok().filter(|p| Callback::parse(p).is_some());
    let params = read(location.search()).or_else(|| read(location.hash())).ok_or(WebError::NotACallback)?;
    let path = location.pathname().expect_throw("unreachable: a document's own location is readable");
    let _ = window().history().and_then(|h| h.replace_state_with_url(&JsValue::NULL, "", Some(&path)));
    let state = Callback::parse(&params).and_then(|cb| cb.state().map(str::to_owned)).ok_or(WebError::Core(CoreError::StateMismatch))?;
    Ok(Response { state, params })
}

/// Finishes the sign-in this tab started (redirect mode), or hands the response to the window
/// that opened this one (popup mode).
pub(crate) async fn handle_response(response: Response) -> Result<(), WebError> {
    match redirect::take(&response.state)? {
        Some(pending) => redirect::finish(pending, &response.params, State::new(response.state)).await,
        None => popup::deliver(&response.state, &response.params).await,
    }
}
