//! Sign-in by full-page redirect. Before leaving, the tab keeps what the callback page needs in
//! `sessionStorage["mailconnect:redirect:{state}"]` (this tab and origin only):
//! `{edge, connector, verifier, redirectUri, issuer?, returnTo, expiresAt}`. Entries are single
//! use and expire, so an abandoned sign-in (Back at the provider) never lingers or blocks the
//! next one. Any script of the origin can write sessionStorage, so the callback page trusts an
//! entry only where it agrees with the connector's settings (`callback.rs`) and checks `returnTo`
//! again.

use crate::browser::{absent, get, is_plain, now, object, session_storage, window};
use crate::error::{concat, misconfigured, refused, Result};
use crate::prelude::*;
use js_sys::JSON;
use web_sys::Storage;

const PREFIX: &str = "mailconnect:redirect:";
/// How long a sign-in at the provider may take.
const TTL_MS: f64 = 15.0 * 60.0 * 1000.0;

/// A sign-in waiting for the provider's redirect back.
#[derive(Debug)]
pub(crate) struct PendingRedirect {
    pub(crate) edge: String,
    pub(crate) connector: String,
    pub(crate) verifier: String,
    pub(crate) redirect_uri: String,
    pub(crate) issuer: Option<String>,
    pub(crate) return_to: String,
}

/// Stores the pending sign-in and leaves for the provider's `url`.
pub(crate) fn start(state: &str, pending: &PendingRedirect, url: &str) -> Result<()> {
    let session = session_storage()?;
    sweep(&session);
    let entry = object(&[
        ("edge", &pending.edge.as_str().into()),
        ("connector", &pending.connector.as_str().into()),
        ("verifier", &pending.verifier.as_str().into()),
        ("redirectUri", &pending.redirect_uri.as_str().into()),
        ("returnTo", &pending.return_to.as_str().into()),
        ("expiresAt", &(now() + TTL_MS).into()),
    ]);
    if let Some(issuer) = &pending.issuer {
        crate::browser::set(&entry, "issuer", &issuer.as_str().into());
    }
    let json = JSON::stringify(&entry).map(String::from).unwrap_or_default();
    session.set_item(&concat(&[PREFIX, state]), &json).map_err(|_| refused("sessionStorage"))?;
    window().location().assign(url).map_err(|_| misconfigured(&concat(&["the authorize URL cannot be opened: ", url])))
}

/// Removes and returns the unexpired pending sign-in for `state`, if this tab started one.
pub(crate) fn take(state: &str) -> Result<Option<PendingRedirect>> {
    let session = session_storage()?;
    let name = concat(&[PREFIX, state]);
    let Some(json) = session.get_item(&name).ok().flatten() else { return Ok(None) };
    let _ = session.remove_item(&name);
    Ok(live(&json))
}

fn live(json: &str) -> Option<PendingRedirect> {
    let v = JSON::parse(json).ok().filter(is_plain)?;
    let string = |key| get(&v, key).as_string();
    let issuer = get(&v, "issuer");
    let pending = PendingRedirect {
        edge: string("edge")?,
        connector: string("connector")?,
        verifier: string("verifier")?,
        redirect_uri: string("redirectUri")?,
        issuer: if absent(&issuer) { None } else { Some(issuer.as_string()?) },
        return_to: string("returnTo")?,
    };
    get(&v, "expiresAt").as_f64().is_some_and(|at| at > now()).then_some(pending)
}

/// Drops expired and unreadable entries left by abandoned sign-ins.
fn sweep(session: &Storage) {
    // Removed after the loop: removing shifts the indices. A plain loop: iterator adapters are
    // more code here.
    let mut stale = Vec::new();
    for i in 0..session.length().unwrap_or(0) {
        let Some(key) = session.key(i).ok().flatten().filter(|k| k.starts_with(PREFIX)) else { continue };
        if session.get_item(&key).ok().flatten().and_then(|json| live(&json)).is_none() {
            stale.push(key);
        }
    }
    for key in stale {
        let _ = session.remove_item(&key);
    }
}
