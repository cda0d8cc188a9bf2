//! The [`Session`] Durable Object: one browser's tokens, one object per session; with user
//! binding, one browser's binding or one webmail user's tokens ([`binding`]).
//!
//! The Worker calls it with the session's handle (from the cookie), which it never stores: it
//! derives the keys that encrypt its tokens from `SESSION_KEYS` and the handle: the newest seals,
//! any of them opens, so a rotation signs nobody out.
//!
//! # Security
//! Storage holds neither the handle nor a token in the clear: a storage dump alone decrypts
//! nothing, and the key alone finds nothing. Records are AES-256-GCM with the connector id as
//! associated data, so they cannot be swapped between connectors. One object per session
//! serializes that session's refreshes: concurrent calls share one upstream request, which
//! keeps strict-rotation providers working with many tabs open.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use mailconnect_core::contract::{Connection, Disconnected, Ended, SessionInfo, TokenRequest, TokenResponse};
use mailconnect_core::SessionId;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use worker::{console_error, console_warn, durable_object, DurableObject, Env, Request, Response, State};

use crate::config::Config;
use crate::error::EdgeError;
use crate::grant::{auth_code, now, refresh, revoke, Grant};
use crate::routes::{parse, session_cookie};
use crate::rpc::Answer;
use crate::single_flight::{Flight, SingleFlight};

pub(crate) mod address;
mod binding;
pub(crate) use binding::Binding;
mod lifetime;
mod records;
use lifetime::Meta;
use records::{aad, record_key};

/// What the Worker asks of the object (over RPC, see [`crate::rpc`]).
#[wasm_bindgen]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Exchange a code (the request is the JSON of a [`TokenRequest`]).
    Token,
    /// A fresh access token.
    Refresh,
    /// Forget the connector's grant.
    Disconnect,
    /// The connected connectors.
    Info,
    /// Bind this new browser session to a user (the request is a [`binding::Binding`]).
    Bind,
    /// Forget the whole session.
    End,
    /// A user's object: remember a ticket's `jti` (the request is a [`binding::Binding`]).
    Claim,
    /// Hand everything over to a new handle's object and end.
    Handover,
}

/// `result` as the object's answer; when a browser's session is gone, the cookie goes too.
fn answer<T: Serialize>(result: Result<T, EdgeError>, browser: bool) -> Answer {
    let ended = browser && matches!(result, Err(EdgeError::SessionExpired));
    answer_ended(Answer::of(result), ended)
}

fn answer_ended(answer: Answer, ended: bool) -> Answer {
    if ended {
        answer.add_header("set-cookie", &session_cookie("", 0));
    }
    answer
}

/// An answer built by the object, or its error's.
fn flatten(result: Result<Answer, EdgeError>) -> Answer {
    result.unwrap_or_else(|e| Answer::of::<()>(Err(e)))
}

#[wasm_bindgen]
impl Session {
    /// The RPC method: does `op` for `connector` (empty where it names none) with the request the
    /// Worker checked. The handle comes with each call, for the session's key, and is never
    /// stored; `previous` is the handle a connect or a bind replaces (see [`binding`]).
    pub async fn call(&self, op: Op, handle: String, connector: String, request: Option<String>, previous: Option<String>) -> Answer {
        let (handle, previous) = (SessionId::new(handle), previous.map(SessionId::new));
        let config = match Config::load(&self.inner.env) {
            Ok(config) => config,
            Err(e) => return Answer::of::<()>(Err(e)),
        };
        // A user's object never sets the browser's cookie: it answers the browser's object or the back end.
        let browser = !address::is_user(&handle);
        match op {
            Op::Bind => flatten(self.bind(&config, &handle, request, previous).await),
            Op::End => answer(self.inner.end().await.map(|()| Ended { status: "ended".into() }), false),
            Op::Claim => answer(self.claim(&config, request).await, false),
            Op::Handover => answer(self.handover(&config, &handle).await, false),
            _ if browser && config.users.is_some() => flatten(self.forward(&config, op, &handle, &connector, request, previous).await),
            _ => self.serve(&config, op, &handle, &connector, request, previous, browser).await,
        }
    }
}

impl Session {
    /// A route of the session's own grants: a browser's without user binding, or a user's.
    #[allow(clippy::too_many_arguments)]
    async fn serve(
        &self,
        config: &Rc<Config>,
        op: Op,
        handle: &SessionId,
        connector: &str,
        request: Option<String>,
        previous: Option<SessionId>,
        browser: bool,
    ) -> Answer {
        match op {
            Op::Token => {
                let request = parse(request.unwrap_or_default().as_bytes());
                let result = async { self.connect(config, handle, connector, request?, previous.as_ref()).await }.await;
                let connected = result.is_ok();
                let answer = answer(result, browser);
                if browser && connected {
                    // Sent on every connect: the handle is new, and the session gets its lifetime.
                    answer.add_header("set-cookie", &session_cookie(handle.expose(), config.session_max));
                }
                answer
            }
            // The back end's calls come with a request (a user's object is never a browser's).
            Op::Refresh => match request {
                Some(request) if !browser => answer(self.user_token(config, handle, connector, &request).await, false),
                _ => answer(self.access_token(config, handle, connector).await, browser),
            },
            Op::Disconnect => match request {
                Some(_) if !browser => answer(self.user_disconnect(config, handle, connector).await, false),
                _ => answer(self.disconnect(config, handle, connector).await, browser),
            },
            _ => match self.info(config, handle).await {
                // No session: nothing is connected.
                Err(EdgeError::SessionExpired) => answer_ended(Answer::of(Ok(SessionInfo::default())), browser),
                result => answer(result, browser),
            },
        }
    }
}

/// One browser session: its connectors' grants, encrypted at rest, and its lifetime.
#[durable_object(alarm)]
pub struct Session {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

struct Inner {
    state: State,
    env: Env,
    /// `None` until read from storage; then whether the session exists.
    meta: Cell<Option<Option<Meta>>>,
    /// The session's AES keys, newest first, derived on first use.
    keys: RefCell<Option<Rc<[CryptoKey]>>>,
    /// Decrypted grants, so a valid access token is answered from memory.
    grants: RefCell<HashMap<String, Grant>>,
    /// Bumped by connect and disconnect, so a refresh that overlapped one does not write back.
    generations: RefCell<HashMap<String, u64>>,
    /// The session's own generation, bumped by [`Inner::end`]: a refresh that spans the end of
    /// the session (even one in an object that restarted, and so knows no per-connector
    /// generation) never writes its grant back after the storage was deleted.
    epoch: Cell<u64>,
    /// The refresh in progress per connector, which every concurrent caller awaits.
    flights: SingleFlight<Result<Grant, EdgeError>>,
    /// A user's object: the `jti`s of tickets presented, until their `exp`; `None` until read.
    tickets: RefCell<Option<HashMap<String, u64>>>,
}

impl DurableObject for Session {
    fn new(state: State, env: Env) -> Self {
        let inner = Inner {
            state,
            env,
            meta: Cell::new(None),
            keys: RefCell::new(None),
            grants: RefCell::default(),
            generations: RefCell::default(),
            epoch: Cell::new(0),
            flights: SingleFlight::default(),
            tickets: RefCell::default(),
        };
        Session { inner: Rc::new(inner) }
    }

    /// The Worker calls [`Session::call`] over RPC only; `fetch` is the trait's.
    async fn fetch(&self, _req: Request) -> worker::Result<Response> {
        Ok(EdgeError::NotFound.into_response())
    }

    async fn alarm(&self) -> worker::Result<Response> {
        // An error makes the runtime retry the alarm, with backoff.
        self.inner.expire().await.map_err(|e| worker::Error::RustError(e.to_string()))?;
        Response::empty()
    }
}

impl Session {
    /// Redeems the code; then takes over the session of `previous`, if any, so that the session
    /// continues under the new handle only.
    async fn connect(
        &self,
        config: &Rc<Config>,
        handle: &SessionId,
        id: &str,
        request: TokenRequest,
        previous: Option<&SessionId>,
    ) -> Result<TokenResponse, EdgeError> {
        let inner = &self.inner;
        let grant = auth_code::exchange(config.connector(id)?, request).await?;
        if let Some(previous) = previous {
            self.adopt(config, handle, previous).await?;
        }
        let now = now();
        match inner.live(config, now).await {
            Ok(()) => {}
            Err(EdgeError::SessionExpired) => inner.begin(config, now).await?,
            Err(e) => return Err(e),
        }
        inner.bump_generation(id);
        inner.store(config, handle, id, &grant).await?;
        Ok(grant.to_response(now))
    }

    /// An access token good beyond the margin: from memory, or from the refresh in flight.
    async fn access_token(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<TokenResponse, EdgeError> {
        let inner = &self.inner;
        let margin = config.connector(id)?.expiry_margin;
        inner.live(config, now()).await?;
        // The common case: a token good beyond the margin, answered from memory.
        let cached = inner.grants.borrow().get(id).filter(|g| g.is_fresh(now(), margin)).cloned();
        let grant = match cached {
            Some(grant) => grant,
            None => self.flight(config, handle, id).await?,
        };
        Ok(grant.to_response(now()))
    }

    /// Joins the refresh in progress for `id`, or starts it.
    fn flight(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Flight<Result<Grant, EdgeError>> {
        let (inner, config, handle, id_owned) = (self.inner.clone(), config.clone(), SessionId::new(handle.expose()), id.to_owned());
        self.inner.flights.join(id, move || async move { inner.renew(&config, &handle, &id_owned).await })
    }

    /// Forgets `id`'s grant, then revokes it at the provider (if it has a revocation endpoint)
    /// in the background: the answer never waits for, nor depends on, the provider.
    async fn disconnect(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<Disconnected, EdgeError> {
        let inner = &self.inner;
        let connector = config.connector(id)?;
        inner.live(config, now()).await?;
        // Read before it is deleted, and only where it can be revoked. A grant that cannot be
        // read is forgotten all the same: disconnecting must not depend on it.
        let revocable = match connector.provider.revocation_url() {
            Some(_) => inner.grant(config, handle, id).await.unwrap_or_else(|e| {
                console_error!("mailconnect: not revoking {id}'s grant: reading it failed ({})", e.code());
                None
            }),
            None => None,
        };
        inner.forget(id).await?;
        if let Some(grant) = revocable {
            inner.revoke_later(config, id, grant);
        }
        Ok(Disconnected { status: "disconnected".into() })
    }

    async fn info(&self, config: &Rc<Config>, handle: &SessionId) -> Result<SessionInfo, EdgeError> {
        let inner = &self.inner;
        inner.live(config, now()).await?;
        let mut connectors = Vec::new();
        for id in config.connector_ids() {
            if let Some(grant) = inner.grant(config, handle, id).await? {
                connectors.push(Connection { id: id.to_owned(), account: grant.account });
            }
        }
        Ok(SessionInfo { connectors })
    }
}

impl Inner {
    fn bump_generation(&self, id: &str) {
        *self.generations.borrow_mut().entry(id.to_owned()).or_default() += 1;
    }

    /// What a refresh of `id` must find unchanged to write back: the session's generation and
    /// the connector's.
    fn generation(&self, id: &str) -> (u64, u64) {
        (self.epoch.get(), self.generations.borrow().get(id).copied().unwrap_or_default())
    }

    /// Forgets `id`'s grant, in memory and in storage; a refresh in flight does not bring it back.
    async fn forget(&self, id: &str) -> Result<(), EdgeError> {
        self.bump_generation(id);
        self.grants.borrow_mut().remove(id);
        Ok(self.state.storage().delete(&record_key(id)).await.map(|_| ())?)
    }

    /// Revokes `grant` at the provider after the answer. Tried once, within the connector's
    /// timeout, and never again: nobody holds the grant any more, and a token a failed call
    /// leaves valid still ends with its lifetime.
    fn revoke_later(&self, config: &Rc<Config>, id: &str, grant: Grant) {
        let (config, id) = (config.clone(), id.to_owned());
        self.state.wait_until(async move {
            let revoked = async { revoke::revoke(config.connector(&id)?, &grant).await };
            if let Err(e) = revoked.await {
                console_error!("mailconnect: revoking {id}'s grant at the provider failed: {}", e.code());
            }
        });
    }

    /// One upstream refresh. On failure nothing is written: the old refresh token stays.
    async fn renew(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<Grant, EdgeError> {
        let connector = config.connector(id)?;
        let current = self.grant(config, handle, id).await?.ok_or(EdgeError::NotConnected)?;
        if current.is_fresh(now(), connector.expiry_margin) {
            return Ok(current);
        }
        let generation = self.generation(id);
        let fresh = match refresh::refresh(connector, &current).await {
            Ok(fresh) => fresh,
            // Revoked, expired, or its password changed: the grant will never work again. It is
            // dropped, unless a connect or the end of the session changed it meanwhile, so the
            // session stops listing it and later refreshes answer not_connected at once instead
            // of asking the provider again.
            Err(e) if e.is_dead_grant() => {
                if self.generation(id) == generation {
                    console_warn!("mailconnect: {id}'s grant is dead at the provider; dropped");
                    self.forget(id).await?;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if self.generation(id) != generation {
            // The session ended, or the connector was disconnected or connected again, meanwhile:
            // do not bring the old grant back. If nothing replaced it, nobody holds the new
            // refresh token (a strict-rotation provider revoked the one disconnect did), so it is
            // revoked too. Not after a new connect: a
            // provider may revoke more than the one grant.
            if !self.grants.borrow().contains_key(id) && connector.provider.revocation_url().is_some() {
                self.revoke_later(config, id, fresh);
            }
            return Err(if self.epoch.get() != generation.0 { EdgeError::SessionExpired } else { EdgeError::NotConnected });
        }
        // Persisted before any caller sees the new token: a rotated refresh token is never lost.
        self.store(config, handle, id, &fresh).await?;
        Ok(fresh)
    }
}
