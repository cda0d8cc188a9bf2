//! The [`AppTokens`] Durable Object: one per app-token connector, the single source of its
//! app-only token.
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
use crate::routes::app_token::{bearer, cache_key, response};
use crate::rpc::Answer;
use crate::single_flight::{Flight, SingleFlight};

/// Bad keys a client may present per window before it is refused with 429.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_SECONDS: u64 = 60;
/// At most this many clients are counted apart; beyond, after expired entries are dropped, new
/// clients share one count (so rotating addresses cannot grow the map, nor escape the limit).
const TRACKED_CLIENTS: usize = 10_000;
/// The shared count of clients beyond [`TRACKED_CLIENTS`].
const OVERFLOW: &str = "overflow";

/// Bad keys from one client in the current window.
#[derive(Clone, Copy, Debug)]
struct Window {
    since: u64,
    count: u32,
}

impl Window {
    fn current(self, now: u64) -> bool {
        now < self.since + FAILURE_WINDOW_SECONDS
    }
}

/// Bad keys per client, at most [`TRACKED_CLIENTS`] + 1 entries.
#[derive(Debug, Default)]
struct Failures(HashMap<String, Window>);

impl Failures {
    /// Counts a bad key from `client`; refuses it with 429 when the client has used up its
    /// failures in the current window.
    fn record(&mut self, client: &str, now: u64) -> Result<(), EdgeError> {
        if !self.0.contains_key(client) && self.0.len() >= TRACKED_CLIENTS {
            self.0.retain(|_, w| w.current(now));
        }
        let client = if self.0.contains_key(client) || self.0.len() < TRACKED_CLIENTS { client } else { OVERFLOW };
        let window = self.0.entry(client.to_owned()).or_insert(Window { since: now, count: 0 });
        if !window.current(now) {
            *window = Window { since: now, count: 0 };
        }
        if window.count >= MAX_FAILURES {
            return Err(EdgeError::TooManyFailures { retry_after: window.since + FAILURE_WINDOW_SECONDS - now });
        }
        window.count += 1;
        Ok(())
    }
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
    failures: RefCell<Failures>,
}

impl DurableObject for AppTokens {
    fn new(_state: State, env: Env) -> Self {
        let inner = Inner { env, tokens: RefCell::default(), flights: SingleFlight::default(), failures: RefCell::default() };
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
        let (connector, app) = config.app_connector(id)?;
        if !app.api_keys.verify(bearer(authorization))? {
            self.inner.failures.borrow_mut().record(client, grant::now())?;
            return Err(EdgeError::ApiKey);
        }
        let key = cache_key(connector, app);
        let cached = self.inner.tokens.borrow().get(&key).filter(|g| g.is_fresh(grant::now(), connector.expiry_margin)).cloned();
        let grant = match cached {
            Some(grant) => grant,
            None => self.flight(&config, id, key).await?,
        };
        response(&grant, None)
    }

    /// Joins the upstream request in progress for `key`, or starts it.
    fn flight(&self, config: &Rc<Config>, id: &str, key: String) -> Flight<Result<Grant, EdgeError>> {
        let (inner, config, id, key_owned) = (self.inner.clone(), config.clone(), id.to_owned(), key.clone());
        self.inner.flights.join(&key, move || async move {
            let (connector, app) = config.app_connector(&id)?;
            let grant = match &app.grant {
                AppGrant::ClientCredentials => client_credentials(connector).await?,
                AppGrant::Password(mailbox) => password(connector, mailbox).await?,
            };
            inner.tokens.borrow_mut().insert(key_owned, grant.clone());
            Ok(grant)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_refused_after_ten_bad_keys_until_its_window_ends() {
        let mut failures = Failures::default();
        for _ in 0..MAX_FAILURES {
            failures.record("ip:203.0.113.7", 1000).unwrap();
        }
        assert!(matches!(failures.record("ip:203.0.113.7", 1010), Err(EdgeError::TooManyFailures { retry_after: 50 })));
        failures.record("ip:203.0.113.8", 1010).unwrap();
        failures.record("ip:203.0.113.7", 1000 + FAILURE_WINDOW_SECONDS).unwrap();
    }

    #[test]
    fn the_failure_map_is_bounded_and_clients_beyond_it_share_one_limit() {
        let mut failures = Failures::default();
        for i in 0..TRACKED_CLIENTS + 500 {
            failures.record(&format!("ip:2001:db8:{i:x}::"), 1000).unwrap_or_else(|_| assert!(i >= TRACKED_CLIENTS + MAX_FAILURES as usize));
        }
        assert_eq!(failures.0.len(), TRACKED_CLIENTS + 1);
        assert!(failures.record("ip:2001:db8:ffff::", 1001).is_err(), "a new address beyond the bound is limited all the same");
        // Once the window has passed, expired entries make room again.
        failures.record("ip:2001:db8:ffff::", 1000 + FAILURE_WINDOW_SECONDS).unwrap();
        assert_eq!(failures.0.len(), 1);
    }
}
