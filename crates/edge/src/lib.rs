//! mailconnect's Cloudflare Worker: the confidential half of the OAuth connector.
//!
//! The browser module sends it an authorization code with its PKCE verifier; the Worker redeems
//! them as a confidential client (client secret, or an RS256 client assertion from a
//! certificate), keeps the refresh token in the browser's [`Session`] Durable Object, encrypted,
//! and hands back only an access token. Later calls refresh through the same object, one
//! upstream request per connector at a time. The HTTP API is `mailconnect_core::contract`.
//!
//! Mail servers get app-only tokens (client credentials, or the password grant of one service
//! mailbox where a connector enables it) from `POST /oauth/connectors/{id}/app-token` with an
//! API key; the Worker answers from its isolate while a token is fresh, and the connector's
//! [`AppTokens`] Durable Object is their single source on a miss.
//!
//! With user binding (`USER_TICKET_KEYS`), the webmail's back end vouches for its signed-in user
//! with a signed ticket, the browser's session is bound to that user, and the user's grants live
//! in one [`Session`] object for all of the user's devices; the back end gets its users' tokens
//! from `POST /oauth/users/{account}/connectors/{id}/token` with its own API key.
//!
//! Failed code exchanges are counted per connector by its [`Exchanges`] Durable Object, which
//! holds junk codes back from the provider.
//!
//! The Worker calls its objects over Workers RPC, which needs the entry module
//! `crates/edge/entry.mjs` (wrangler.toml's `main`) in front of worker-build's output; that
//! module also calls [`fetch`] without a per-request entrypoint instance.
//!
//! Settings are documented in `wrangler.toml` and `.dev.vars.example`.
//!
//! The code is laid out by what it does: `routes/` has every handler (one module per route
//! family), `objects/` the Durable Objects, `grant/` the provider calls (one module per
//! grant, all through one path to the token endpoint), `config` the settings, and this file the
//! fetch handler and the route table.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // What the browser module does, in effect, after the redirect:
//! //   POST /oauth/connectors/teams/token
//! //   Origin: https://mail.example.com
//! //   Content-Type: application/json
//! //   x-mailconnect: 1
//! //   {"code":"…","code_verifier":"…","redirect_uri":"https://mail.example.com/callback.html"}
//! // ← 200 {"access_token":"…","token_type":"Bearer","expires_in":3599,…}
//! //   Set-Cookie: __Host-mailconnect-session=…; HttpOnly; Secure; SameSite=Strict; Path=/
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod api_key;
mod config;
mod cors;
mod crypto;
mod error;
mod grant;
mod limit;
mod objects;
mod routes;
mod rpc;
mod single_flight;

use std::future::Future;

use mailconnect_core::contract::route as api;
use wasm_bindgen::prelude::*;
use worker::{Env, Request, Response, Router};

pub use error::EdgeError;
pub use objects::app_tokens::AppTokens;
pub use objects::exchanges::Exchanges;
pub use objects::session::Session;

use crate::config::Config;
use crate::objects::session::Op;

/// The Worker's fetch handler. The entry module (crates/edge/entry.mjs) calls it, through the
/// method worker-build generates for the export named `fetch`, with each request and the
/// Worker's bindings, and the runtime sends on the `Response` or `Promise` it returns.
///
/// A health check is answered at once, synchronously: monitors call it often, and it needs none
/// of what the other routes pay for on entry (a future on wasm-bindgen's task queue, the
/// router, and `worker::Request`, which reads the request's `cf` object on every conversion).
/// Every other request is [`route`]d.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env) -> JsValue {
    // The method is read only here: every other request reads it again in `worker::Request`.
    if path(&req.url()) == api::HEALTH.pattern() {
        let method = req.method();
        // Preflights of every /oauth path are the router's.
        if method != "OPTIONS" {
            let origin = req.headers().get("origin").ok().flatten();
            return routes::health::health(&method, origin.as_deref(), &env).into();
        }
    }
    wasm_bindgen_futures::future_to_promise(async move { Ok(web_sys::Response::from(route(Request::from(req), env).await).into()) }).into()
}

/// The path of an absolute request URL as the runtime gives it (`http://host/path?query`).
fn path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("/", |start| &rest[start..]);
    path.split_once('?').map_or(path, |(path, _)| path)
}

/// The route table.
async fn route(req: Request, env: Env) -> Response {
    // The app-token and users routes are for servers: their answers get no CORS headers,
    // whatever the origin.
    let server = req.path().ends_with("/app-token") || req.path().starts_with("/oauth/users/");
    let origin = if server { None } else { cors::origin(&req) };
    let config = match Config::load(&env) {
        Ok(config) => config,
        Err(e) => return cors::finish(e.into_response(), None, None),
    };
    let response = Router::with_data(config.clone())
        .get_async(api::CONNECTOR.pattern(), |req, ctx| respond(routes::connectors::connector(req, ctx)))
        .post_async(api::TOKEN.pattern(), |req, ctx| respond(routes::session::token(req, ctx)))
        .post_async(api::REFRESH.pattern(), |req, ctx| respond(routes::session::refresh(req, ctx)))
        .post_async(api::DISCONNECT.pattern(), |req, ctx| respond(routes::session::disconnect(req, ctx)))
        .post_async(api::APP_TOKEN.pattern(), |req, ctx| respond(routes::app_token::app_token(req, ctx)))
        .get_async(api::SESSION.pattern(), |req, ctx| respond(routes::session::info(req, ctx)))
        .post_async(api::SESSION_BIND.pattern(), |req, ctx| respond(routes::session::bind(req, ctx)))
        .post_async(api::SESSION_END.pattern(), |req, ctx| respond(routes::session::end(req, ctx)))
        .post_async(api::USER_TOKEN.pattern(), |req, ctx| respond(routes::users::call(req, ctx, Op::Refresh)))
        .post_async(api::USER_DISCONNECT.pattern(), |req, ctx| respond(routes::users::call(req, ctx, Op::Disconnect)))
        .options_async(api::ANY.pattern(), |req, ctx| respond(routes::preflight::preflight(req, ctx)))
        .run(req, env)
        .await
        .unwrap_or_else(|e| EdgeError::from(e).into_response());
    cors::finish(contract_404_405(response), origin.as_deref(), Some(&config))
}

/// Every handler's error becomes its response here, through [`EdgeError::into_response`].
async fn respond(handler: impl Future<Output = Result<Response, EdgeError>>) -> worker::Result<Response> {
    Ok(handler.await.unwrap_or_else(EdgeError::into_response))
}

/// The router answers unknown paths and methods in plain text; the contract wants JSON.
fn contract_404_405(response: Response) -> Response {
    let is_json = response.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("application/json"));
    match response.status_code() {
        404 if !is_json => EdgeError::NotFound.into_response(),
        405 if !is_json => EdgeError::MethodNotAllowed.into_response(),
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn path_is_read_from_the_absolute_url_without_its_query() {
        assert_eq!(path("http://127.0.0.1:8787/oauth/health"), "/oauth/health");
        assert_eq!(path("https://mail.example.com/oauth/health?probe=1"), "/oauth/health");
        assert_eq!(path("https://mail.example.com"), "/");
        assert_eq!(path("https://mail.example.com/oauth/health/x"), "/oauth/health/x");
    }
}
