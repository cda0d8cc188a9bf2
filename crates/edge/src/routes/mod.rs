//! The Worker's handlers, one module per route family, and what they all read from a request:
//! its body, its JSON and the session cookie.
//!
//! `/oauth/health` ([`health`]) is answered before the router, and every path's `OPTIONS` by
//! [`preflight`]. The browser routes ([`connectors`], [`session`]) check CORS and CSRF ([`crate::cors`]) and
//! hand the work to the browser's [`Session`](crate::Session); the server routes ([`app_token`],
//! [`users`]) refuse browsers and check the API key; the first asks the connector's
//! [`AppTokens`](crate::AppTokens) only for what its isolate does not hold, the second the
//! user's [`Session`](crate::Session).

pub(crate) mod app_token;
pub(crate) mod connectors;
pub(crate) mod health;
pub(crate) mod preflight;
pub(crate) mod session;
pub(crate) mod users;

use mailconnect_core::contract::SESSION_COOKIE;
use mailconnect_core::encoding::{base64_decode, base64url};
use mailconnect_core::SessionId;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;
use worker::Request;

use crate::error::{js_message, EdgeError};

/// Request bodies are small JSON objects; a bigger declared length is refused unread.
const BODY_LIMIT: usize = 8 * 1024;

/// The body, at most [`BODY_LIMIT`] bytes. It is read from the stream chunk by chunk and
/// refused as soon as it passes the cap, so a chunked request (which declares no length) is
/// never buffered whole, neither by the runtime nor in wasm memory, which never shrinks.
pub(crate) async fn read_body(req: &mut Request) -> Result<Vec<u8>, EdgeError> {
    let declared = req.headers().get("content-length")?.and_then(|n| n.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Err(EdgeError::TooLarge(BODY_LIMIT));
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        // A client that drops the connection mid-body makes the read fail.
        let unreadable = |e: JsValue| EdgeError::BadRequest(format!("the body could not be read: {}", js_message(&e)));
        let chunk = JsFuture::from(reader.read()).await.map_err(unreadable)?;
        if js_sys::Reflect::get(&chunk, &"done".into()).map_err(unreadable)?.is_truthy() {
            return Ok(body);
        }
        let bytes: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(unreadable)?.unchecked_into();
        if body.len() + bytes.length() as usize > BODY_LIMIT {
            // The rest is never read: the runtime drops it with the connection's request.
            let _ = reader.cancel();
            return Err(EdgeError::TooLarge(BODY_LIMIT));
        }
        body.extend_from_slice(&bytes.to_vec());
    }
}

/// A JSON body as the contract type `T`.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EdgeError> {
    // serde's messages name fields and expected types; string values, where codes and
    // verifiers live, are never quoted back since every field is a string.
    serde_json::from_slice(bytes).map_err(|e| EdgeError::BadRequest(e.to_string()))
}

/// The handle in the session cookie, if it has the shape of one of ours.
pub(crate) fn session_handle(req: &Request) -> Option<SessionId> {
    handle_in(&req.headers().get("cookie").ok()??)
}

/// The handle in a `Cookie` header: exactly one cookie of our name, whose value is 43 characters
/// of canonical unpadded base64url (32 bytes), as [`new_handle`] makes them. Two cookies of our
/// name (one planted beside ours) are no session: which one the edge issued cannot be told.
fn handle_in(cookies: &str) -> Option<SessionId> {
    let mut values = cookies.split(';').filter_map(|c| c.split_once('=').filter(|(name, _)| name.trim() == SESSION_COOKIE).map(|(_, value)| value.trim()));
    let value = values.next()?;
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let canonical = value.len() == 43 && value.bytes().all(alphabet) && base64_decode(value).is_some_and(|bytes| base64url(&bytes) == value);
    (values.next().is_none() && canonical).then(|| SessionId::new(value))
}

/// A handle the edge issues: 256 random bits.
pub(crate) fn new_handle() -> Result<SessionId, EdgeError> {
    Ok(SessionId::new(base64url(&crate::crypto::random::<32>()?)))
}

/// The `Set-Cookie` value that gives the browser `handle` for `max_age` seconds; an empty
/// handle with no age ends the session in the browser.
pub(crate) fn session_cookie(handle: &str, max_age: u64) -> String {
    format!("{SESSION_COOKIE}={handle}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDLE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn the_one_session_cookie_with_a_canonical_43_character_value_is_a_handle() {
        let found = |header: &str| handle_in(header).map(|h| h.expose().to_owned());
        assert_eq!(found(&format!("{SESSION_COOKIE}={HANDLE}")).as_deref(), Some(HANDLE));
        assert_eq!(found(&format!("theme=dark; {SESSION_COOKIE}={HANDLE}; x=1")).as_deref(), Some(HANDLE));
        assert_eq!(found(&format!("x{SESSION_COOKIE}={HANDLE}")), None, "another cookie's name");
    }

    #[test]
    fn duplicate_padded_foreign_and_wrong_length_cookies_are_no_session() {
        let other = "A".repeat(43);
        for header in [
            format!("{SESSION_COOKIE}={HANDLE}; {SESSION_COOKIE}={HANDLE}"),
            format!("{SESSION_COOKIE}={other}; {SESSION_COOKIE}={HANDLE}"),
            format!("{SESSION_COOKIE}={}", "=".repeat(43)),
            format!("{SESSION_COOKIE}={}=", &HANDLE[..42]),
            format!("{SESSION_COOKIE}={}", HANDLE.replace('-', "+")),
            format!("{SESSION_COOKIE}={}", &HANDLE[..42]),
            format!("{SESSION_COOKIE}={HANDLE}A"),
            format!("{SESSION_COOKIE}={}é", &HANDLE[..42]),
            format!("{SESSION_COOKIE}={}B", &HANDLE[..42]),
            format!("{SESSION_COOKIE}="),
        ] {
            assert!(handle_in(&header).is_none(), "{header}");
        }
    }
}
