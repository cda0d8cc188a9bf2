//! `POST /oauth/connectors/{id}/app-token`: app-only tokens for mail servers and relays, and the
//! [`AppTokens`] Durable Object that caches them, one object per connector.
//!
//! The Worker refuses browser calls, finds the connector and hands the call to the connector's
//! object, which checks the API key, serves the token from memory while it has more than
//! `token_expiry_margin` left, and otherwise makes one upstream request however many callers
//! are waiting for it.
//!
//! # Security
//! Not a browser API: a call with an `Origin` header is refused, and answers carry no CORS
//! headers and no cookie. API keys are compared as in [`crate::api_key`]. Failed keys are counted
//! per client (`CF-Connecting-IP`, else the presented key's first characters) in the object's
//! memory: it is the one place every call for the connector passes, worldwide, so a client cannot
//! multiply its budget by reaching many isolates, and no storage write is spent per failure (an
//! object evicted for idleness has nobody left to limit). A cached token is filed under the
//! connector, client, token endpoint, scope and mailbox, and never served for anything else.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use mailconnect_core::contract::{AppTokenRequest, AppTokenResponse};
use mailconnect_core::{xoauth2, xoauth2_pop3};
use wasm_bindgen::prelude::*;
use worker::{durable_object, DurableObject, Env, Request, Response, RouteContext, State};

use crate::client_credentials;
use crate::config::{AppGrant, Config, Connector};
use crate::cors;
use crate::error::EdgeError;
use crate::rpc::{self, Answer};
use crate::session::{parse, read_body};
use crate::upstream::{self, Grant};

/// Bad keys a client may present per window before it is refused with 429.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_SECONDS: u64 = 60;
/// Beyond this many clients with failures, expired entries are dropped before adding one.
const TRACKED_CLIENTS: usize = 10_000;
/// An address is at most 64 + 1 + 255 characters (RFC 5321 §4.5.3.1).
const MAX_USER_LEN: usize = 320;

// ---------------------------------------------------------------------------------------------
// Worker side: the route.

/// `POST /oauth/connectors/{id}/app-token`.
pub(crate) async fn app_token(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    // A page must never hold an API key; a browser calling here is a misuse, whatever its origin.
    if cors::origin(&req).is_some() {
        return Err(EdgeError::Origin);
    }
    let id = ctx.param("id").map_or("", String::as_str);
    ctx.data.app_connector(id)?;
    let body = read_body(&mut req).await?;
    let authorization = req.headers().get("authorization")?.unwrap_or_default();
    let client = match req.headers().get("cf-connecting-ip")? {
        Some(ip) => format!("ip:{ip}"),
        // Only without Cloudflare in front (local runs): the key's first characters, which are no secret.
        None => format!("key:{}", bearer(&authorization).chars().take(8).collect::<String>()),
    };
    let stub: AppTokensStub = rpc::stub(&ctx.env, "APP_TOKENS", "AppTokens", &format!("app-tokens/{id}"))?;
    // Copied into a buffer of its own: RPC would copy the whole buffer behind a view, here all of wasm memory.
    let body = js_sys::Uint8Array::from(body.as_slice());
    rpc::answered(stub.call(id, &client, &authorization, &body)).await
}

#[wasm_bindgen]
extern "C" {
    /// The Worker's view of an [`AppTokens`] (over RPC, see [`rpc`]).
    #[wasm_bindgen(extends = js_sys::Object)]
    type AppTokensStub;

    /// [`AppTokens::call`].
    #[wasm_bindgen(method, catch)]
    async fn call(this: &AppTokensStub, connector: &str, client: &str, authorization: &str, body: &js_sys::Uint8Array) -> Result<JsValue, JsValue>;
}

/// The key in `Authorization: Bearer <key>`; empty if there is none.
fn bearer(authorization: &str) -> &str {
    match authorization.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => "",
    }
}

/// The mailbox for the XOAUTH2 strings: an address cannot hold control characters, and one
/// would break the SASL string's `\x01` framing.
fn check_user(user: String) -> Result<String, EdgeError> {
    if user.is_empty() || user.len() > MAX_USER_LEN || user.chars().any(char::is_control) {
        return Err(EdgeError::BadRequest(format!("user must be a mailbox address of 1 to {MAX_USER_LEN} characters without control characters")));
    }
    Ok(user)
}

/// What a cached token is good for: the connector and everything that decides the token.
fn cache_key(connector: &Connector, app: &AppGrant) -> String {
    let mailbox = app.mailbox.as_ref().map_or("", |m| m.username.as_str());
    format!("{}\n{}\n{}\n{}\n{mailbox}", connector.id, connector.provider.token_url(), connector.client_id, connector.scopes)
}

// ---------------------------------------------------------------------------------------------
// The Durable Object.

type Flight = Shared<LocalBoxFuture<'static, Result<Grant, EdgeError>>>;

/// Bad keys from one client in the current window.
#[derive(Clone, Copy, Debug)]
struct Failures {
    since: u64,
    count: u32,
}

/// One connector's app token, kept in memory only, and its callers' failed keys.
#[durable_object]
pub struct AppTokens {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppTokens").finish_non_exhaustive()
    }
}

struct Inner {
    env: Env,
    /// By [`cache_key`]. Memory only: a token is cheap to get again, and not worth a copy at rest.
    tokens: RefCell<HashMap<String, Grant>>,
    /// The upstream request in progress per cache key, which every concurrent caller awaits.
    flights: RefCell<HashMap<String, Flight>>,
    /// By client.
    failures: RefCell<HashMap<String, Failures>>,
}

impl DurableObject for AppTokens {
    fn new(_state: State, env: Env) -> Self {
        let inner = Inner { env, tokens: RefCell::default(), flights: RefCell::default(), failures: RefCell::default() };
        AppTokens { inner: Rc::new(inner) }
    }

    /// The Worker calls [`AppTokens::call`] over RPC only; `fetch` is the trait's.
    async fn fetch(&self, _req: Request) -> worker::Result<Response> {
        Ok(EdgeError::NotFound.into_response())
    }
}

#[wasm_bindgen]
impl AppTokens {
    /// The RPC method: an app token for `connector`, for the caller with `authorization` (the
    /// request's header, or empty), named `client` for the failure count; `body` is the request's.
    pub async fn call(&self, connector: String, client: String, authorization: String, body: js_sys::Uint8Array) -> Answer {
        Answer::of(self.serve(&connector, &client, &authorization, &body.to_vec()).await)
    }
}

impl AppTokens {
    async fn serve(&self, id: &str, client: &str, authorization: &str, body: &[u8]) -> Result<AppTokenResponse, EdgeError> {
        let config = Config::load(&self.inner.env)?;
        let (connector, app) = config.app_connector(id)?;
        self.inner.check_failures(client, upstream::now())?;
        if !app.api_keys.verify(bearer(authorization))? {
            self.inner.record_failure(client.to_owned(), upstream::now());
            return Err(EdgeError::ApiKey);
        }
        // An empty body is `{}`: a token without XOAUTH2 strings.
        let request: AppTokenRequest = if body.is_empty() { AppTokenRequest::default() } else { parse(body)? };
        let user = request.user.map(check_user).transpose()?;
        let key = cache_key(connector, app);
        let now = upstream::now();
        let cached = self.inner.tokens.borrow().get(&key).filter(|g| g.is_fresh(now, connector.expiry_margin)).cloned();
        let grant = match cached {
            Some(grant) => grant,
            None => self.flight(&config, id, key).await?,
        };
        let now = upstream::now();
        let token = grant.access_token.expose();
        let sasl = |build: fn(&str, &str) -> Result<String, mailconnect_core::CoreError>, user: &str| {
            build(user, token).map_err(|_| EdgeError::UpstreamMalformed("the access token holds control characters".into()))
        };
        let (xoauth2, xoauth2_pop3) = match &user {
            Some(user) => (Some(sasl(xoauth2, user)?), Some(sasl(xoauth2_pop3, user)?)),
            None => (None, None),
        };
        Ok(AppTokenResponse {
            access_token: grant.access_token.clone(),
            token_type: "Bearer".into(),
            expires_in: grant.expires_at.saturating_sub(now),
            expires_at: grant.expires_at,
            scope: grant.scope.clone(),
            xoauth2,
            xoauth2_pop3,
        })
    }

    /// Joins the upstream request in progress for `key`, or starts it. Created and registered
    /// without an `await` in between, so no second caller can slip in.
    fn flight(&self, config: &Rc<Config>, id: &str, key: String) -> Flight {
        if let Some(flight) = self.inner.flights.borrow().get(&key) {
            return flight.clone();
        }
        let (inner, config, id, key_owned) = (self.inner.clone(), config.clone(), id.to_owned(), key.clone());
        let flight = async move {
            let result = match config.app_connector(&id) {
                Ok((connector, app)) => client_credentials::app_grant(connector, app.mailbox.as_ref()).await,
                Err(e) => Err(e),
            };
            if let Ok(grant) = &result {
                inner.tokens.borrow_mut().insert(key_owned.clone(), grant.clone());
            }
            inner.flights.borrow_mut().remove(&key_owned);
            result
        }
        .boxed_local()
        .shared();
        self.inner.flights.borrow_mut().insert(key, flight.clone());
        flight
    }
}

impl Inner {
    /// Refuses a client that has used up its failures in the current window.
    fn check_failures(&self, client: &str, now: u64) -> Result<(), EdgeError> {
        match self.failures.borrow().get(client) {
            Some(f) if f.count >= MAX_FAILURES && now < f.since + FAILURE_WINDOW_SECONDS => {
                Err(EdgeError::TooManyFailures { retry_after: f.since + FAILURE_WINDOW_SECONDS - now })
            }
            _ => Ok(()),
        }
    }

    fn record_failure(&self, client: String, now: u64) {
        let mut failures = self.failures.borrow_mut();
        if failures.len() >= TRACKED_CLIENTS {
            failures.retain(|_, f| now < f.since + FAILURE_WINDOW_SECONDS);
        }
        let entry = failures.entry(client).or_insert(Failures { since: now, count: 0 });
        if now >= entry.since + FAILURE_WINDOW_SECONDS {
            *entry = Failures { since: now, count: 0 };
        }
        entry.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_the_key_of_a_bearer_header_only() {
        assert_eq!(bearer("Bearer abc"), "abc");
        assert_eq!(bearer("bearer  abc "), "abc");
        assert_eq!(bearer("Basic abc"), "");
        assert_eq!(bearer("abc"), "");
    }

    #[test]
    fn users_with_control_characters_or_no_characters_are_refused() {
        for bad in ["", "relay@contoso.dev\r\nQUIT", "a\u{1}b@contoso.dev", &"x".repeat(MAX_USER_LEN + 1)] {
            assert!(matches!(check_user(bad.to_owned()), Err(EdgeError::BadRequest(_))), "{bad:?}");
        }
        assert_eq!(check_user("relay@contoso.dev".into()).unwrap(), "relay@contoso.dev");
    }
}
