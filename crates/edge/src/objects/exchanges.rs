//! The [`Exchanges`] Durable Object: one per browser connector, counting its failed code
//! exchanges.
//!
//! # Security
//! Anyone can POST a junk code to `/token` and so make the edge call the provider as the
//! connector's confidential client (with its secret or a signed assertion); enough of that gets
//! the app throttled by the provider for every user. The token route asks this object before
//! each exchange and tells it of each one the provider refused: beyond [`PER_CLIENT`] refused
//! exchanges a minute from one address, or [`PER_CONNECTOR`] from all of them together, the
//! route answers 429 with `Retry-After` and the provider is not called. Successful exchanges
//! are not counted, so many people signing in behind one address are never limited. The counts
//! live in memory, as the API-key failures of [`AppTokens`](crate::AppTokens) do: this is the
//! one place every exchange of the connector passes, worldwide.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::error::EdgeError;
use crate::grant::now;
use crate::limit::FailureWindows;

/// Refused exchanges a minute from one client address.
pub(crate) const PER_CLIENT: u32 = 30;
/// Refused exchanges a minute from every address together.
pub(crate) const PER_CONNECTOR: u32 = 600;
const WINDOW_SECONDS: u64 = 60;
/// The key the connector-wide count is filed under; no client name has this shape.
const ALL: &str = "*";

/// One connector's refused code exchanges, per client and in all.
#[durable_object]
pub struct Exchanges {
    clients: RefCell<FailureWindows>,
    all: RefCell<FailureWindows>,
}

impl std::fmt::Debug for Exchanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanges").finish_non_exhaustive()
    }
}

impl DurableObject for Exchanges {
    fn new(_state: State, _env: Env) -> Self {
        Exchanges {
            clients: RefCell::new(FailureWindows::new(PER_CLIENT, WINDOW_SECONDS)),
            all: RefCell::new(FailureWindows::new(PER_CONNECTOR, WINDOW_SECONDS)),
        }
    }

    /// The Worker calls [`Exchanges::call`] over RPC only; `fetch` is the trait's.
    async fn fetch(&self, _req: Request) -> worker::Result<Response> {
        Ok(EdgeError::NotFound.into_response())
    }
}

#[wasm_bindgen]
impl Exchanges {
    /// The RPC method: records a refused exchange of `client` if `refused`, then answers how
    /// many seconds `client` must wait before its next exchange (0: it may go ahead).
    pub fn call(&self, client: String, refused: bool) -> f64 {
        let now = now();
        let (mut clients, mut all) = (self.clients.borrow_mut(), self.all.borrow_mut());
        if refused {
            clients.record(&client, now);
            all.record(ALL, now);
        }
        clients.wait(&client, now).max(all.wait(ALL, now)).unwrap_or(0) as f64
    }
}
