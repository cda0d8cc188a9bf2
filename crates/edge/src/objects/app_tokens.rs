//! The [`AppTokens`] Durable Object: one per app-token connector, the single source of its
//! app-only token; and one (`app-tokens/backend`) that counts the bad keys of the `users` routes.
//!
//! The Worker checks API keys and serves a still-fresh token from its isolate
//! ([`crate::routes::app_token`]); it calls the object on a miss, and with every bad key. The
//! object serves the token from memory while it has more than `token_expiry_margin` left, and
//! otherwise makes one upstream request however many callers are waiting for it.
//!
//! # Security
//! The object checks the API key again: it hands a token to nobody without one. Bad keys are
//! counted per client in the object's memory: it is the one place every bad key for the
//! connector passes, worldwide, so a client cannot multiply its budget by reaching many
//! isolates, and no storage write is spent per failure (an object evicted for idleness has
//! nobody left to limit). The count is consulted only for bad keys: a client with a valid key is
//! served even from an address where others failed. A cached token is filed under the
//! connector, client, token endpoint, scope and mailbox, and never served for anything else.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::config::{AppGrant, Config};
use crate::error::EdgeError;
use crate::grant::{self, client_credentials::client_credentials, password::password, Grant};
use crate::limit::FailureWindows;
use crate::routes::app_token::{bearer, cache_key, response};
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
    /// The RPC method: `connector`'s app token (without SASL strings) for the caller with
    /// `authorization` (the request's header, or empty), named `client` for the failure count.
    pub async fn call(&self, connector: String, client: String, authorization: String) -> Answer {
        Answer::of(self.serve(&connector, &client, &authorization).await)
    }
}

impl AppTokens {
    async fn serve(&self, id: &str, client: &str, authorization: &str) -> Result<mailconnect_core::contract::AppTokenResponse, EdgeError> {
        let config = Config::load(&self.inner.env)?;
        let now = grant::now();
        // The id "" counts the bad keys of the users routes (`BACKEND_API_KEYS`), which the
        // Worker sends here only when they fail: there is no token to hand out for them.
        let app = if id.is_empty() { None } else { Some(config.app_connector(id)?) };
        let verified = match app {
            Some((_, app)) => app.api_keys.verify(bearer(authorization))?,
            None => false,
        };
        let Some((connector, app)) = app.filter(|_| verified) else {
            let mut failures = self.inner.failures.borrow_mut();
            if let Some(retry_after) = failures.wait(client, now) {
                return Err(EdgeError::TooManyFailures { retry_after });
            }
            failures.record(client, now);
            return Err(EdgeError::ApiKey);
        };
        let key = cache_key(connector, app);
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
        response(&grant, None)
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
