//! Sign-in by full-page redirect, and the return to the deep link the user left.
//!
//! Before leaving, the tab stores what the callback page needs in `sessionStorage` under
//! `mailconnect:redirect:{state}`: the edge and connector, the PKCE verifier, the redirect URI,
//! the expected issuer and the `returnTo` path. Entries are single use and expire after
//! [`TTL_MS`], so an abandoned sign-in (the user pressed Back at the provider) never lingers or
//! blocks the next one.
//!
//! # Security
//! `sessionStorage` belongs to this tab and origin; the verifier stays there at most minutes.
//! The return target is a same-origin path (core's `ReturnTo`): no open redirect.

use crate::auth_code::{self, Authorization};
use crate::dom::{now, session_storage, window};
use crate::edge_client::EdgeClient;
use crate::error::WebError;
use mailconnect_core::{PkceVerifier, ReturnTo, State};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use web_sys::Storage;

const PREFIX: &str = "mailconnect:redirect:";
/// How long a sign-in at the provider may take.
const TTL_MS: f64 = 15.0 * 60.0 * 1000.0;

/// What survives the round trip to the provider.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pending {
    edge: String,
    connector: String,
    verifier: String,
    redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    return_to: String,
    expires_at: f64,
}

/// The path, query and fragment of this page: where a sign-in returns by default. An address
/// too long to keep falls back to the path alone, then to the site's root.
pub(crate) fn current_path() -> ReturnTo {
    let l = window().location();
    let part = |p: Result<String, JsValue>| p.expect_throw("unreachable: a document's own location is readable");
    let path = part(l.pathname());
    ReturnTo::parse(&[path.as_str(), &part(l.search()), &part(l.hash())].concat())
        .or_else(|_| ReturnTo::parse(&path))
        .unwrap_or_else(|_| ReturnTo::parse("/").expect_throw("unreachable: / is a valid return target"))
}

/// Stores the pending sign-in and leaves for the provider. The page unloads after this.
pub(crate) fn start(edge: &EdgeClient, auth: Authorization, redirect_uri: &str, issuer: Option<&str>, return_to: ReturnTo) -> Result<(), WebError> {
    let storage = session_storage()?;
    sweep(&storage);
    let pending = Pending {
        edge: edge.base().to_owned(),
        connector: edge.connector().to_owned(),
        verifier: auth.verifier.expose().to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        issuer: issuer.map(str::to_owned),
        return_to: return_to.as_str().to_owned(),
        expires_at: now() + TTL_MS,
    };
    let value = pending.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect_throw("unreachable: Pending serializes");
    let json = String::from(js_sys::JSON::stringify(&value).expect_throw("unreachable: plain objects stringify"));
    storage.set_item(&key(auth.state.expose()), &json).map_err(|_| WebError::Browser("sessionStorage"))?;
    window().location().assign(&auth.url).map_err(|_| WebError::Configuration(["the authorize URL cannot be opened: ", &auth.url].concat()))
}

/// Removes and returns the unexpired pending sign-in for `state`, if this tab started one.
pub(crate) fn take(state: &str) -> Result<Option<Pending>, WebError> {
    let storage = session_storage()?;
    let key = key(state);
    let Some(json) = storage.get_item(&key).ok().flatten() else { return Ok(None) };
    let _ = storage.remove_item(&key);
    Ok(parse(&json).filter(|p| p.expires_at > now()))
}

/// Redeems the code of a redirect sign-in, then returns the user to where they were.
pub(crate) async fn finish(pending: Pending, params: &str, state: State) -> Result<(), WebError> {
    let verifier = PkceVerifier::parse(&pending.verifier)?;
    let edge = EdgeClient::new(&pending.edge, &pending.connector);
    auth_code::finish(&edge, params, &state, verifier, &pending.redirect_uri, pending.issuer.as_deref()).await?;
    // Re-checked: sessionStorage is writable by any script of the origin.
    let to = ReturnTo::parse(&pending.return_to)?;
    // `replace`, so Back does not land on the spent callback page.
    window().location().replace(to.as_str()).map_err(|_| WebError::Browser("location.replace"))
}

fn key(state: &str) -> String {
    [PREFIX, state].concat()
}

fn parse(json: &str) -> Option<Pending> {
    crate::de::from_js(js_sys::JSON::parse(json).ok()?).ok()
}

/// Drops expired and unreadable entries left by abandoned sign-ins.
fn sweep(storage: &Storage) {
    let keys: Vec<String> = (0..storage.length().unwrap_or(0)).filter_map(|i| storage.key(i).ok().flatten()).filter(|k| k.starts_with(PREFIX)).collect();
    for k in keys {
        let live = storage.get_item(&k).ok().flatten().as_deref().and_then(parse).is_some_and(|p| p.expires_at > now());
        if !live {
            let _ = storage.remove_item(&k);
        }
    }
}
