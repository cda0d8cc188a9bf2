//! The browser's session routes: connect (`token`), `refresh`, `disconnect`, `GET
//! /oauth/session`, `bind` and `end`. Each checks the request and hands it to the session's
//! [`Session`](crate::Session) object, whose answer is the response. With user binding
//! (`USER_TICKET_KEYS`), a browser whose session is not bound gets 401 `ticket_required` (action
//! `interaction`: the page gets a fresh ticket from the webmail and binds); the objects' module
//! `binding` says how a bound browser reaches its user's grants.
//!
//! # Security
//! The cookie holds an unguessable handle (256 bits) that only the edge makes: a connect and a
//! bind always issue a new one, so a handle planted in the browser never becomes a session's.
//! The cookie is read strictly (one cookie of our name, canonical base64url). The Worker
//! addresses the session's object by a hash of the handle, so the handle itself is never
//! stored, not even as an object name. A ticket is checked here, signature included
//! (Ed25519, WebCrypto), before any object is called. A code and
//! its redirect URI are checked here, before anything goes upstream: the redirect URI must be
//! exactly one of the connector's (RFC 9700 §4.1.3 asks the same of the provider). Failed
//! exchanges are counted by the connector's [`Exchanges`](crate::Exchanges) object, which
//! stops junk codes from reaching the provider beyond its limits.

use std::rc::Rc;

use mailconnect_core::contract::{BindRequest, Ended, SessionInfo, TokenRequest};
use mailconnect_core::ticket::{self, Claims, TicketError};
use mailconnect_core::SessionId;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use worker::{console_error, Env, Request, Response, RouteContext};

use super::{new_handle, parse, read_body, session_cookie, session_handle};
use crate::config::{Browser, Config, Users};
use crate::cors;
use crate::crypto;
use crate::error::{js_message, EdgeError};
use crate::grant::now;
use crate::objects::session::{address, Binding, Op};
use crate::rpc;

/// Authorization codes are opaque; Entra's run to about 1 500 characters.
const MAX_CODE_LEN: usize = 4096;

/// `POST /oauth/connectors/{id}/token`: exchanges a code, under a fresh handle. A session the
/// browser had continues under the new handle; with user binding, only a bound one.
pub(crate) async fn token(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    let (connector, browser) = ctx.data.browser(ctx.param("id").map_or("", String::as_str))?;
    let body = read_body(&mut req).await?;
    validate(&parse::<TokenRequest>(&body)?, browser)?;
    let previous = session_handle(&req);
    if ctx.data.users.is_some() && previous.is_none() {
        return Err(EdgeError::TicketRequired);
    }
    // Junk codes must not make us call the provider without end (see objects::exchanges).
    // Without Cloudflare in front (local runs), every client is the same one.
    let client = req.headers().get("cf-connecting-ip")?.unwrap_or_default();
    let exchanges: ExchangesStub = rpc::stub(&ctx.env, "EXCHANGES", "Exchanges", &format!("exchanges/{}", connector.id))?;
    exchanges.admit(&client).await?;
    // Valid UTF-8: it was just parsed as JSON.
    let request = String::from_utf8_lossy(&body);
    // Never the browser's own handle: a planted one must not become the session's (fixation).
    let handle = new_handle()?;
    let response = call(&ctx.env, &handle, Op::Token, &connector.id, Some(&request), previous.as_ref()).await?;
    // The request was checked above, so a 400 is the provider refusing the code or verifier.
    if response.status_code() == 400 {
        // Counted against the next exchange; this answer stays the provider's.
        if let Err(e) = exchanges.call_exchanges(&client, true).await {
            console_error!("mailconnect: a refused exchange was not counted: {}", js_message(&e));
        }
    }
    Ok(response)
}

/// `POST /oauth/connectors/{id}/refresh`.
pub(crate) async fn refresh(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    let (handle, id) = connector_session(req, &ctx).await?;
    call(&ctx.env, &handle, Op::Refresh, &id, None, None).await
}

/// `POST /oauth/connectors/{id}/disconnect`.
pub(crate) async fn disconnect(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    let (handle, id) = connector_session(req, &ctx).await?;
    call(&ctx.env, &handle, Op::Disconnect, &id, None, None).await
}

/// The checks of refresh and disconnect; their session's handle and the connector's id.
async fn connector_session(mut req: Request, ctx: &RouteContext<Rc<Config>>) -> Result<(SessionId, String), EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    let connector = ctx.data.connector(ctx.param("id").map_or("", String::as_str))?;
    parse::<Empty>(&read_body(&mut req).await?)?;
    let handle = session_handle(&req).ok_or(if ctx.data.users.is_some() { EdgeError::TicketRequired } else { EdgeError::NoSession })?;
    Ok((handle, connector.id.clone()))
}

/// `GET /oauth/session`: the connected connectors; none without a (live) session.
pub(crate) async fn info(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_read(&req, &ctx.data)?;
    match session_handle(&req) {
        Some(handle) => call(&ctx.env, &handle, Op::Info, "", None, None).await,
        None if ctx.data.users.is_some() => Err(EdgeError::TicketRequired),
        None => Ok(Response::from_json(&SessionInfo::default())?),
    }
}

/// `POST /oauth/session/bind`: binds the browser to the ticket's user, under a fresh handle;
/// the browser's previous session ends.
pub(crate) async fn bind(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    // Without user binding there is nobody to bind to: the route does not exist.
    let users = ctx.data.users.as_ref().ok_or(EdgeError::NotFound)?;
    let request: BindRequest = parse(&read_body(&mut req).await?)?;
    let claims = verify(users, request.ticket.expose()).await?;
    let binding =
        serde_json::to_string(&Binding { account: claims.account, jti: claims.jti, exp: claims.exp }).map_err(|e| EdgeError::Internal(e.to_string()))?;
    call(&ctx.env, &new_handle()?, Op::Bind, "", Some(&binding), session_handle(&req).as_ref()).await
}

/// A ticket's claims, once its shape, claims and signature are valid; its `jti` is the user's
/// object's to check.
async fn verify(users: &Users, ticket: &str) -> Result<Claims, EdgeError> {
    let unverified = ticket::parse(ticket, now()).map_err(EdgeError::Ticket)?;
    let key = users.ticket_keys.iter().find(|k| k.kid == unverified.kid()).ok_or(EdgeError::Ticket(TicketError::UnknownKey))?;
    if !crypto::verify_ed25519(&key.public_key, unverified.signing_input(), unverified.signature()).await? {
        return Err(EdgeError::Ticket(TicketError::Signature));
    }
    Ok(unverified.into_verified_claims())
}

/// `POST /oauth/session/end`: forgets the browser's session (bound: this browser's binding only)
/// and clears the cookie. Without a session there is nothing to forget, and the answer is the same.
pub(crate) async fn end(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    parse::<Empty>(&read_body(&mut req).await?)?;
    if let Some(handle) = session_handle(&req) {
        let ended = address::call(&address::browser(&ctx.env, &handle)?, Op::End, &handle, "", None, None).await?;
        if ended.status() != 200 {
            return ended.into_response();
        }
    }
    let mut response = Response::from_json(&Ended { status: "ended".into() })?;
    response.headers_mut().append("set-cookie", &session_cookie("", 0))?;
    Ok(response)
}

/// The body of refresh, disconnect and end: `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

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

/// Calls the browser session's object; its answer is the response.
async fn call(env: &Env, handle: &SessionId, op: Op, connector: &str, request: Option<&str>, previous: Option<&SessionId>) -> Result<Response, EdgeError> {
    address::call(&address::browser(env, handle)?, op, handle, connector, request, previous).await?.into_response()
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
