//! The browser's session routes: connect (`token`), `refresh`, `disconnect` and `GET
//! /oauth/session`. Each checks the request and hands it to the session's
//! [`Session`](crate::Session) object, whose answer is the response.
//!
//! # Security
//! The cookie holds an unguessable handle (256 bits); the Worker addresses the session's object
//! by a hash of it, so the handle itself is never stored, not even as an object name. A code and
//! its redirect URI are checked here, before anything goes upstream: the redirect URI must be
//! exactly one of the connector's (RFC 9700 §4.1.3 asks the same of the provider). Failed
//! exchanges are counted by the connector's [`Exchanges`](crate::Exchanges) object, which
//! stops junk codes from reaching the provider beyond its limits.

use std::rc::Rc;

use mailconnect_core::contract::{SessionInfo, TokenRequest};
use mailconnect_core::encoding::base64url;
use mailconnect_core::SessionId;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use worker::{console_error, Env, Request, Response, RouteContext};

use super::{parse, read_body, session_cookie, session_handle};
use crate::config::{Browser, Config};
use crate::cors;
use crate::crypto;
use crate::error::{js_message, EdgeError};
use crate::objects::session::Op;
use crate::rpc;

/// Authorization codes are opaque; Entra's run to about 1 500 characters.
const MAX_CODE_LEN: usize = 4096;

/// `POST /oauth/connectors/{id}/token`: exchanges a code; starts a session if there is none.
pub(crate) async fn token(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    let (connector, browser) = ctx.data.browser(ctx.param("id").map_or("", String::as_str))?;
    let body = read_body(&mut req).await?;
    validate(&parse::<TokenRequest>(&body)?, browser)?;
    let handle = match session_handle(&req) {
        Some(handle) => handle,
        None => SessionId::new(base64url(&crypto::random::<32>()?)),
    };
    // Junk codes must not make us call the provider without end (see objects::exchanges).
    // Without Cloudflare in front (local runs), every client is the same one.
    let client = req.headers().get("cf-connecting-ip")?.unwrap_or_default();
    let exchanges: ExchangesStub = rpc::stub(&ctx.env, "EXCHANGES", "Exchanges", &format!("exchanges/{}", connector.id))?;
    exchanges.admit(&client).await?;
    // Valid UTF-8: it was just parsed as JSON.
    let request = String::from_utf8_lossy(&body);
    let mut response = call(&ctx.env, &handle, Op::Token, &connector.id, Some(&request)).await?;
    // The request was checked above, so a 400 is the provider refusing the code or verifier.
    if response.status_code() == 400 {
        // Counted against the next exchange; this answer stays the provider's.
        if let Err(e) = exchanges.call_exchanges(&client, true).await {
            console_error!("mailconnect: a refused exchange was not counted: {}", js_message(&e));
        }
    }
    if response.status_code() == 200 {
        // Sent on every connect, so a session started again under an old handle gets a full lifetime.
        response.headers_mut().append("set-cookie", &session_cookie(handle.expose(), ctx.data.session_max))?;
    }
    Ok(response)
}

/// `POST /oauth/connectors/{id}/refresh`.
pub(crate) async fn refresh(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    let (handle, id) = connector_session(req, &ctx).await?;
    call(&ctx.env, &handle, Op::Refresh, &id, None).await
}

/// `POST /oauth/connectors/{id}/disconnect`.
pub(crate) async fn disconnect(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    let (handle, id) = connector_session(req, &ctx).await?;
    call(&ctx.env, &handle, Op::Disconnect, &id, None).await
}

/// The checks of refresh and disconnect; their session's handle and the connector's id.
async fn connector_session(mut req: Request, ctx: &RouteContext<Rc<Config>>) -> Result<(SessionId, String), EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    let connector = ctx.data.connector(ctx.param("id").map_or("", String::as_str))?;
    parse::<Empty>(&read_body(&mut req).await?)?;
    Ok((session_handle(&req).ok_or(EdgeError::NoSession)?, connector.id.clone()))
}

/// `GET /oauth/session`: the connected connectors; none without a (live) session.
pub(crate) async fn info(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_read(&req, &ctx.data)?;
    match session_handle(&req) {
        Some(handle) => call(&ctx.env, &handle, Op::Info, "", None).await,
        None => Ok(Response::from_json(&SessionInfo::default())?),
    }
}

/// The body of refresh and disconnect: `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// Checks a token request before it goes upstream. The verifier's charset and length were
/// checked when it was parsed.
fn validate(request: &TokenRequest, browser: &Browser) -> Result<(), EdgeError> {
    let code = request.code.expose();
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EdgeError::BadRequest(format!("code must be 1 to {MAX_CODE_LEN} printable ASCII characters")));
    }
    // Exact string match; no prefix or pattern.
    if !browser.redirect_uris.contains(&request.redirect_uri) {
        return Err(EdgeError::RedirectUri);
    }
    Ok(())
}

/// Calls the session's object; its answer is the response.
async fn call(env: &Env, handle: &SessionId, op: Op, connector: &str, request: Option<&str>) -> Result<Response, EdgeError> {
    let name = base64url(&Sha256::digest(format!("mailconnect/session/{}", handle.expose())));
    let stub: SessionStub = rpc::stub(env, "SESSIONS", "Session", &name)?;
    rpc::answered(stub.call(op, handle.expose(), connector, request)).await
}

#[wasm_bindgen]
extern "C" {
    /// The Worker's view of an [`Exchanges`](crate::Exchanges) (over RPC, see [`rpc`]).
    #[wasm_bindgen(extends = js_sys::Object)]
    type ExchangesStub;

    /// [`Exchanges::call`](crate::Exchanges::call).
    #[wasm_bindgen(method, catch, js_name = call)]
    async fn call_exchanges(this: &ExchangesStub, client: &str, refused: bool) -> Result<JsValue, JsValue>;
}

impl ExchangesStub {
    /// Fails with 429 while `client` (or the connector) has used up its failed exchanges.
    async fn admit(&self, client: &str) -> Result<(), EdgeError> {
        let wait = self.call_exchanges(client, false).await.map_err(|e| EdgeError::Internal(format!("a Durable Object call failed: {}", js_message(&e))))?;
        match wait.as_f64() {
            Some(seconds) if seconds > 0.0 => Err(EdgeError::TooManyExchanges { retry_after: seconds as u64 }),
            _ => Ok(()),
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// The Worker's view of a [`Session`](crate::Session) (over RPC, see [`rpc`]).
    #[wasm_bindgen(extends = js_sys::Object)]
    type SessionStub;

    /// [`Session::call`](crate::Session::call).
    #[wasm_bindgen(method, catch)]
    async fn call(this: &SessionStub, op: Op, handle: &str, connector: &str, request: Option<&str>) -> Result<JsValue, JsValue>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Connector, Role};

    fn browser() -> Browser {
        let Role::Browser(browser) = Connector::test("https://mail.example.com/callback.html").role else { unreachable!() };
        browser
    }

    fn request(code: &str, redirect_uri: &str) -> TokenRequest {
        serde_json::from_value(serde_json::json!({
            "code": code, "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "redirect_uri": redirect_uri
        }))
        .unwrap()
    }

    #[test]
    fn redirect_uri_must_match_exactly() {
        let c = browser();
        assert!(validate(&request("abc", "https://mail.example.com/callback.html"), &c).is_ok());
        for other in ["https://mail.example.com/callback.html/", "https://mail.example.com/callback.html?x=1", "https://MAIL.example.com/callback.html"] {
            assert!(matches!(validate(&request("abc", other), &c), Err(EdgeError::RedirectUri)), "{other}");
        }
    }

    #[test]
    fn codes_must_be_printable_and_bounded() {
        let c = browser();
        let uri = "https://mail.example.com/callback.html";
        for bad in [String::new(), "a b".into(), "a\nb".into(), "x".repeat(MAX_CODE_LEN + 1)] {
            assert!(matches!(validate(&request(&bad, uri), &c), Err(EdgeError::BadRequest(_))), "{bad:?}");
        }
        assert!(validate(&request(&"M.C5".repeat(400), uri), &c).is_ok());
    }
}
