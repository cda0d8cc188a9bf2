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
//! API key; the connector's [`AppTokens`] Durable Object caches them.
//!
//! The Worker calls both objects over Workers RPC, which needs the entry module
//! `crates/edge/entry.mjs` (wrangler.toml's `main`) in front of worker-build's output.
//!
//! Settings are documented in `wrangler.toml` and `.dev.vars.example`.
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
// `#[durable_object]` generates undocumented wasm-bindgen glue for `AppTokens`.
#[allow(missing_docs)]
mod app_token;
mod auth_code;
mod client_credentials;
mod config;
mod cors;
mod crypto;
mod error;
mod refresh;
mod revoke;
mod rpc;
// `#[durable_object]` generates undocumented wasm-bindgen glue for `Session`.
#[allow(missing_docs)]
mod session;
mod upstream;

use std::future::Future;

use mailconnect_core::contract::Health;
use worker::{event, Context, Env, Request, Response, Router};

pub use app_token::AppTokens;
pub use error::EdgeError;
pub use session::Session;

use crate::config::Config;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    // The app-token route is for servers: its answers get no CORS headers, whatever the origin.
    let origin = if req.path().ends_with("/app-token") { None } else { cors::origin(&req) };
    let config = match Config::load(&env) {
        Ok(config) => config,
        Err(e) => return Ok(cors::finish(e.into_response(), None, None)),
    };
    let response = Router::with_data(config.clone())
        .get("/oauth/health", |_, _| Response::from_json(&Health { status: "ok".into() }))
        .get_async("/oauth/connectors/:id", |req, ctx| respond(auth_code::connector(req, ctx)))
        .post_async("/oauth/connectors/:id/token", |req, ctx| respond(session::token(req, ctx)))
        .post_async("/oauth/connectors/:id/refresh", |req, ctx| respond(session::refresh(req, ctx)))
        .post_async("/oauth/connectors/:id/disconnect", |req, ctx| respond(session::disconnect(req, ctx)))
        .post_async("/oauth/connectors/:id/app-token", |req, ctx| respond(app_token::app_token(req, ctx)))
        .get_async("/oauth/session", |req, ctx| respond(session::info(req, ctx)))
        .options_async("/oauth/*path", |req, ctx| respond(cors::preflight(req, ctx)))
        .run(req, env)
        .await
        .unwrap_or_else(|e| EdgeError::from(e).into_response());
    Ok(cors::finish(contract_404_405(response), origin.as_deref(), Some(&config)))
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
