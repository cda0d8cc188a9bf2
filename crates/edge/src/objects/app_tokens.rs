//! The [`AppTokens`] Durable Object: one per app-token connector, caching its app-only token.
//!
//! It checks the API key, serves the token from memory while it has more than
//! `token_expiry_margin` left, and otherwise makes one upstream request however many callers
//! are waiting for it.
//!
//! # Security
//! API keys are compared as in [`crate::api_key`]. Failed keys are counted per client in the
//! object's memory: it is the one place every call for the connector passes, worldwide, so a
//! client cannot multiply its budget by reaching many isolates, and no storage write is spent
//! per failure (an object evicted for idleness has nobody left to limit). A cached token is filed
//! under the connector, client, token endpoint, scope and mailbox, and never served for anything
//! else.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use mailconnect_core::contract::{AppTokenRequest, AppTokenResponse};
use mailconnect_core::{xoauth2, xoauth2_pop3};
use wasm_bindgen::prelude::*;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::config::{App, AppGrant, Config, Connector};
use crate::error::EdgeError;
use crate::grant::{self, client_credentials::client_credentials, password::password, Grant};
use crate::limit::FailureWindows;
use crate::routes::app_token::bearer;
use crate::routes::parse;
use crate::rpc::Answer;
use crate::single_flight::{Flight, SingleFlight};

/// Bad keys a client may present per window before it is refused with 429.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_SECONDS: u64 = 60;
/// After a definitive refusal (a wrong secret or mailbox password), the provider is not asked
/// again for this long; each refusal in a row doubles it, up to [`BACKOFF_MAX_SECONDS`]. Entra's
/// smart lockout locks a mailbox after about ten wrong passwords, and every relay call would
/// otherwise be one.
const BACKOFF_SECONDS: u64 = 60;
const BACKOFF_MAX_SECONDS: u64 = 3600;
/// An address is at most 64 + 1 + 255 characters (RFC 5321 §4.5.3.1).
const MAX_USER_LEN: usize = 320;

/// The mailbox for the XOAUTH2 strings: an address cannot hold control characters, and one
/// would break the SASL string's `\x01` framing.
fn check_user(user: String) -> Result<String, EdgeError> {
    if user.is_empty() || user.len() > MAX_USER_LEN || user.chars().any(char::is_control) {
        return Err(EdgeError::BadRequest(format!("user must be a mailbox address of 1 to {MAX_USER_LEN} characters without control characters")));
    }
    Ok(user)
}

/// What a cached token is good for: the connector and everything that decides the token.
fn cache_key(connector: &Connector, app: &App) -> String {
    let mailbox = match &app.grant {
        AppGrant::ClientCredentials => "",
        AppGrant::Password(mailbox) => mailbox.username.as_str(),
    };
    format!("{}\n{}\n{}\n{}\n{mailbox}", connector.id, connector.provider.token_url(), connector.client_id, connector.scopes)
}

/// The provider's last definitive refusal for one cache key, answered again until `until`.
#[derive(Debug)]
struct Refusal {
    error: EdgeError,
    until: u64,
    /// The wait that set `until`; the next refusal doubles it.
    wait: u64,
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
    flights: SingleFlight<Result<Grant, EdgeError>>,
    /// By client.
    failures: RefCell<FailureWindows>,
    /// By [`cache_key`]: a settings change redeploys, which restarts the object and clears it.
    refusals: RefCell<HashMap<String, Refusal>>,
}

impl DurableObject for AppTokens {
    fn new(_state: State, env: Env) -> Self {
        let inner = Inner {
            env,
            tokens: RefCell::default(),
            flights: SingleFlight::default(),
            failures: RefCell::new(FailureWindows::new(MAX_FAILURES, FAILURE_WINDOW_SECONDS)),
            refusals: RefCell::default(),
        };
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
        if let Some(retry_after) = self.inner.failures.borrow().wait(client, grant::now()) {
            return Err(EdgeError::TooManyFailures { retry_after });
        }
        if !app.api_keys.verify(bearer(authorization))? {
            self.inner.failures.borrow_mut().record(client, grant::now());
            return Err(EdgeError::ApiKey);
        }
        // An empty body is `{}`: a token without XOAUTH2 strings.
        let request: AppTokenRequest = if body.is_empty() { AppTokenRequest::default() } else { parse(body)? };
        let user = request.user.map(check_user).transpose()?;
        let key = cache_key(connector, app);
        let now = grant::now();
        let cached = self.inner.tokens.borrow().get(&key).filter(|g| g.is_fresh(now, connector.expiry_margin)).cloned();
        let grant = match cached {
            Some(grant) => grant,
            None => {
                if let Some(refusal) = self.inner.refusals.borrow().get(&key).filter(|r| now < r.until) {
                    return Err(refusal.error.clone());
                }
                self.flight(&config, id, key).await?
            }
        };
        let now = grant::now();
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

    /// Joins the upstream request in progress for `key`, or starts it.
    fn flight(&self, config: &Rc<Config>, id: &str, key: String) -> Flight<Result<Grant, EdgeError>> {
        let (inner, config, id, key_owned) = (self.inner.clone(), config.clone(), id.to_owned(), key.clone());
        self.inner.flights.join(&key, move || async move {
            let (connector, app) = config.app_connector(&id)?;
            let result = match &app.grant {
                AppGrant::ClientCredentials => client_credentials(connector).await,
                AppGrant::Password(mailbox) => password(connector, mailbox).await,
            };
            match &result {
                Ok(grant) => {
                    inner.refusals.borrow_mut().remove(&key_owned);
                    inner.tokens.borrow_mut().insert(key_owned, grant.clone());
                }
                Err(e) if e.is_definitive() => inner.refused(key_owned, e.clone(), grant::now()),
                Err(_) => {}
            }
            result
        })
    }
}

impl Inner {
    /// Backs off from the provider after a definitive refusal for `key`.
    fn refused(&self, key: String, error: EdgeError, now: u64) {
        let mut refusals = self.refusals.borrow_mut();
        let wait = refusals.get(&key).map_or(BACKOFF_SECONDS, |r| (r.wait * 2).min(BACKOFF_MAX_SECONDS));
        refusals.insert(key, Refusal { error, until: now + wait, wait });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_with_control_characters_or_no_characters_are_refused() {
        for bad in ["", "relay@contoso.dev\r\nQUIT", "a\u{1}b@contoso.dev", &"x".repeat(MAX_USER_LEN + 1)] {
            assert!(matches!(check_user(bad.to_owned()), Err(EdgeError::BadRequest(_))), "{bad:?}");
        }
        assert_eq!(check_user("relay@contoso.dev".into()).unwrap(), "relay@contoso.dev");
    }
}
