//! Sessions: the browser's cookie, the routes that use it, and the [`Session`] Durable Object
//! that keeps one browser's tokens.
//!
//! The cookie holds an unguessable handle (256 bits). The Worker addresses the session's
//! Durable Object by a hash of the handle, and the object derives the key that encrypts its
//! tokens from `SESSION_KEY` and the handle, which it is given with each call and never stores.
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

use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use mailconnect_core::contract::{Connection, Disconnected, SessionInfo, TokenRequest, TokenResponse, SESSION_COOKIE};
use mailconnect_core::encoding::{base64_decode, base64url};
use mailconnect_core::SessionId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use worker::{console_error, durable_object, DurableObject, Env, Request, Response, RouteContext, ScheduledTime, State};

use crate::auth_code;
use crate::config::Config;
use crate::cors;
use crate::crypto;
use crate::error::EdgeError;
use crate::refresh;
use crate::revoke;
use crate::rpc::{self, Answer};
use crate::upstream::{self, Grant};

/// Request bodies are small JSON objects; a bigger declared length is refused unread.
const BODY_LIMIT: usize = 8 * 1024;

// ---------------------------------------------------------------------------------------------
// Worker side: the routes.

/// `POST /oauth/connectors/{id}/token`: exchanges a code; starts a session if there is none.
pub(crate) async fn token(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_write(&req, &ctx.data)?;
    let connector = ctx.data.connector(ctx.param("id").map_or("", String::as_str))?;
    let body = read_body(&mut req).await?;
    auth_code::validate(&parse::<TokenRequest>(&body)?, connector)?;
    let handle = match handle(&req) {
        Some(handle) => handle,
        None => SessionId::new(base64url(&crypto::random::<32>()?)),
    };
    // Valid UTF-8: it was just parsed as JSON.
    let request = String::from_utf8_lossy(&body);
    let mut response = call(&ctx.env, &handle, Op::Token, &connector.id, Some(&request)).await?;
    if response.status_code() == 200 {
        // Sent on every connect, so a session started again under an old handle gets a full lifetime.
        let cookie = format!("{SESSION_COOKIE}={}; Max-Age={}; Path=/; HttpOnly; Secure; SameSite=Strict", handle.expose(), ctx.data.session_max);
        response.headers_mut().append("set-cookie", &cookie)?;
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
    Ok((handle(&req).ok_or(EdgeError::NoSession)?, connector.id.clone()))
}

/// `GET /oauth/session`: the connected connectors; none without a (live) session.
pub(crate) async fn info(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_read(&req, &ctx.data)?;
    match handle(&req) {
        Some(handle) => call(&ctx.env, &handle, Op::Info, "", None).await,
        None => Ok(Response::from_json(&SessionInfo::default())?),
    }
}

/// The body of refresh and disconnect: `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

pub(crate) async fn read_body(req: &mut Request) -> Result<Vec<u8>, EdgeError> {
    let declared = req.headers().get("content-length")?.and_then(|n| n.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Err(EdgeError::TooLarge(BODY_LIMIT));
    }
    let bytes = req.bytes().await?;
    if bytes.len() > BODY_LIMIT {
        return Err(EdgeError::TooLarge(BODY_LIMIT));
    }
    Ok(bytes)
}

pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EdgeError> {
    // serde's messages name fields and expected types; string values, where codes and
    // verifiers live, are never quoted back since every field is a string.
    serde_json::from_slice(bytes).map_err(|e| EdgeError::BadRequest(e.to_string()))
}

/// The handle in the cookie, if it has the shape of one of ours.
fn handle(req: &Request) -> Option<SessionId> {
    let cookies = req.headers().get("cookie").ok()??;
    let value = cookies.split(';').filter_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('=')).next()?;
    (value.len() == 43 && base64_decode(value).is_some()).then(|| SessionId::new(value))
}

/// Calls the session's object; its answer is the response.
async fn call(env: &Env, handle: &SessionId, op: Op, connector: &str, request: Option<&str>) -> Result<Response, EdgeError> {
    // Named by a hash: the handle itself is never stored, not even as an object name.
    let name = base64url(&Sha256::digest(format!("mailconnect/session/{}", handle.expose())));
    let stub: SessionStub = rpc::stub(env, "SESSIONS", "Session", &name)?;
    rpc::answered(stub.call(op, handle.expose(), connector, request)).await
}

/// What the Worker asks of the object (over RPC, see [`rpc`]): the operation of one of the
/// session routes.
#[wasm_bindgen]
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Exchange a code (the request is the JSON of a [`TokenRequest`]).
    Token,
    /// A fresh access token.
    Refresh,
    /// Forget the connector's grant.
    Disconnect,
    /// The connected connectors.
    Info,
}

#[wasm_bindgen]
extern "C" {
    /// The Worker's view of a [`Session`].
    #[wasm_bindgen(extends = js_sys::Object)]
    type SessionStub;

    /// [`Session::call`].
    #[wasm_bindgen(method, catch)]
    async fn call(this: &SessionStub, op: Op, handle: &str, connector: &str, request: Option<&str>) -> Result<JsValue, JsValue>;
}

/// `result` as the object's answer; when the session is gone, the cookie goes too.
fn answer<T: Serialize>(result: Result<T, EdgeError>) -> Answer {
    let ended = matches!(result, Err(EdgeError::SessionExpired));
    answer_ended(Answer::of(result), ended)
}

fn answer_ended(answer: Answer, ended: bool) -> Answer {
    if ended {
        answer.add_header("set-cookie", &format!("{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict"));
    }
    answer
}

#[wasm_bindgen]
impl Session {
    /// The RPC method: does `op` for `connector` (empty for [`Op::Info`]) with the request the
    /// Worker checked. The handle comes with each call, for the session's key, and is never stored.
    pub async fn call(&self, op: Op, handle: String, connector: String, request: Option<String>) -> Answer {
        let handle = SessionId::new(handle);
        let config = match Config::load(&self.inner.env) {
            Ok(config) => config,
            Err(e) => return Answer::of::<()>(Err(e)),
        };
        match op {
            Op::Token => {
                let request = parse(request.unwrap_or_default().as_bytes());
                answer(async { self.connect(&config, &handle, &connector, request?).await }.await)
            }
            Op::Refresh => answer(self.refresh(&config, &handle, &connector).await),
            Op::Disconnect => answer(self.disconnect(&config, &handle, &connector).await),
            Op::Info => match self.info(&config, &handle).await {
                // No session: nothing is connected.
                Err(EdgeError::SessionExpired) => answer_ended(Answer::of(Ok(SessionInfo::default())), true),
                result => answer(result),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Durable Object.

/// When a session began and was last used, in seconds since the Unix epoch. Not secret.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Meta {
    created: u64,
    seen: u64,
}

impl Meta {
    fn ends_at(self, config: &Config) -> u64 {
        (self.seen + config.session_idle).min(self.created + config.session_max)
    }
}

type Flight = Shared<LocalBoxFuture<'static, Result<Grant, EdgeError>>>;

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
    /// The session's AES key, derived on first use.
    key: RefCell<Option<CryptoKey>>,
    /// Decrypted grants, so a valid access token is answered from memory.
    grants: RefCell<HashMap<String, Grant>>,
    /// Bumped by connect and disconnect, so a refresh that overlapped one does not write back.
    generations: RefCell<HashMap<String, u64>>,
    /// The refresh in progress per connector, which every concurrent caller awaits.
    flights: RefCell<HashMap<String, Flight>>,
}

impl DurableObject for Session {
    fn new(state: State, env: Env) -> Self {
        let inner = Inner {
            state,
            env,
            meta: Cell::new(None),
            key: RefCell::new(None),
            grants: RefCell::default(),
            generations: RefCell::default(),
            flights: RefCell::default(),
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
    async fn connect(&self, config: &Rc<Config>, handle: &SessionId, id: &str, request: TokenRequest) -> Result<TokenResponse, EdgeError> {
        let inner = &self.inner;
        let grant = auth_code::exchange(config.connector(id)?, request).await?;
        let now = upstream::now();
        match inner.live(config, now).await {
            Ok(()) => {}
            Err(EdgeError::SessionExpired) => inner.begin(config, now).await?,
            Err(e) => return Err(e),
        }
        inner.bump_generation(id);
        inner.store(config, handle, id, &grant).await?;
        Ok(grant.to_response(now))
    }

    async fn refresh(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<TokenResponse, EdgeError> {
        let inner = &self.inner;
        let margin = config.connector(id)?.expiry_margin;
        inner.live(config, upstream::now()).await?;
        // The common case: a token good beyond the margin, answered from memory.
        let cached = inner.grants.borrow().get(id).filter(|g| g.is_fresh(upstream::now(), margin)).cloned();
        let grant = match cached {
            Some(grant) => grant,
            None => self.flight(config, handle, id).await?,
        };
        Ok(grant.to_response(upstream::now()))
    }

    /// Joins the refresh in progress for `id`, or starts it. Created and registered without an
    /// `await` in between, so no second caller can slip in.
    fn flight(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Flight {
        if let Some(flight) = self.inner.flights.borrow().get(id) {
            return flight.clone();
        }
        let (inner, config, handle, id_owned) = (self.inner.clone(), config.clone(), SessionId::new(handle.expose()), id.to_owned());
        let flight = async move {
            let result = inner.refresh(&config, &handle, &id_owned).await;
            inner.flights.borrow_mut().remove(&id_owned);
            result
        }
        .boxed_local()
        .shared();
        self.inner.flights.borrow_mut().insert(id.to_owned(), flight.clone());
        flight
    }

    /// Forgets `id`'s grant, then revokes it at the provider (if it has a revocation endpoint)
    /// in the background: the answer never waits for, nor depends on, the provider.
    async fn disconnect(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<Disconnected, EdgeError> {
        let inner = &self.inner;
        let connector = config.connector(id)?;
        inner.live(config, upstream::now()).await?;
        // Read before it is deleted, and only where it can be revoked. A grant that cannot be
        // read is forgotten all the same: disconnecting must not depend on it.
        let revocable = match connector.provider.revocation_url() {
            Some(_) => inner.grant(config, handle, id).await.unwrap_or_else(|e| {
                console_error!("mailconnect: not revoking {id}'s grant: reading it failed ({})", e.code());
                None
            }),
            None => None,
        };
        inner.bump_generation(id);
        inner.grants.borrow_mut().remove(id);
        inner.state.storage().delete(&record_key(id)).await?;
        if let Some(grant) = revocable {
            inner.revoke_later(config, id, grant);
        }
        Ok(Disconnected { status: "disconnected".into() })
    }

    async fn info(&self, config: &Rc<Config>, handle: &SessionId) -> Result<SessionInfo, EdgeError> {
        let inner = &self.inner;
        inner.live(config, upstream::now()).await?;
        let mut connectors = Vec::new();
        for id in config.connector_ids() {
            if let Some(grant) = inner.grant(config, handle, id).await? {
                connectors.push(Connection { id: id.to_owned(), account: grant.account });
            }
        }
        Ok(SessionInfo { connectors })
    }
}

fn record_key(connector: &str) -> String {
    format!("grant:{connector}")
}

fn aad(connector: &str) -> Vec<u8> {
    format!("mailconnect/grant/v1/{connector}").into_bytes()
}

impl Inner {
    async fn meta(&self) -> Result<Option<Meta>, EdgeError> {
        if let Some(meta) = self.meta.get() {
            return Ok(meta);
        }
        let meta = self.state.storage().get::<Meta>("meta").await?;
        self.meta.set(Some(meta));
        Ok(meta)
    }

    /// Fails with `SessionExpired` unless the session exists and is within both lifetimes;
    /// records the use, and deletes a session found expired.
    async fn live(&self, config: &Config, now: u64) -> Result<(), EdgeError> {
        let Some(mut meta) = self.meta().await? else {
            return Err(EdgeError::SessionExpired);
        };
        if meta.ends_at(config) <= now {
            self.end().await?;
            return Err(EdgeError::SessionExpired);
        }
        // Writing on every request would cost a storage write per cached refresh; a coarse
        // "last seen" is enough for a lifetime measured in days.
        if now >= meta.seen + (config.session_idle / 10).min(60) {
            meta.seen = now;
            self.save(meta, config).await?;
        }
        Ok(())
    }

    async fn begin(&self, config: &Config, now: u64) -> Result<(), EdgeError> {
        self.save(Meta { created: now, seen: now }, config).await
    }

    async fn save(&self, meta: Meta, config: &Config) -> Result<(), EdgeError> {
        self.state.storage().put("meta", meta).await?;
        self.meta.set(Some(Some(meta)));
        self.schedule(meta, config).await
    }

    async fn schedule(&self, meta: Meta, config: &Config) -> Result<(), EdgeError> {
        let at = js_sys::Date::new(&JsValue::from_f64(meta.ends_at(config) as f64 * 1000.0));
        Ok(self.state.storage().set_alarm(ScheduledTime::new(at)).await?)
    }

    /// The alarm: ends the session if it is over, else looks again when it would be. With broken
    /// settings it fails and keeps the data: fixing them must not cost every session.
    async fn expire(&self) -> Result<(), EdgeError> {
        let config = Config::load(&self.env)?;
        match self.meta().await? {
            Some(meta) if meta.ends_at(&config) > upstream::now() => self.schedule(meta, &config).await,
            _ => self.end().await,
        }
    }

    /// Forgets everything: the session is over.
    async fn end(&self) -> Result<(), EdgeError> {
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        self.meta.set(Some(None));
        self.grants.borrow_mut().clear();
        for generation in self.generations.borrow_mut().values_mut() {
            *generation += 1;
        }
        Ok(())
    }

    fn bump_generation(&self, id: &str) {
        *self.generations.borrow_mut().entry(id.to_owned()).or_default() += 1;
    }

    fn generation(&self, id: &str) -> u64 {
        self.generations.borrow().get(id).copied().unwrap_or_default()
    }

    async fn key(&self, config: &Config, handle: &SessionId) -> Result<CryptoKey, EdgeError> {
        if let Some(key) = self.key.borrow().as_ref() {
            return Ok(key.clone());
        }
        let raw = crypto::derive_key(config.session_key.expose(), handle.expose().as_bytes(), b"mailconnect/session-key/v1 aes-256-gcm");
        let key = crypto::aes_key(&raw).await?;
        *self.key.borrow_mut() = Some(key.clone());
        Ok(key)
    }

    /// The grant for `id`, from memory or decrypted from storage.
    async fn grant(&self, config: &Config, handle: &SessionId, id: &str) -> Result<Option<Grant>, EdgeError> {
        if let Some(grant) = self.grants.borrow().get(id) {
            return Ok(Some(grant.clone()));
        }
        let Some(sealed) = self.state.storage().get::<String>(&record_key(id)).await? else {
            return Ok(None);
        };
        let key = self.key(config, handle).await?;
        let plain = match base64_decode(&sealed) {
            Some(bytes) => crypto::open(&key, &aad(id), &bytes).await?,
            None => None,
        };
        let Some(grant) = plain.and_then(|plain| serde_json::from_slice::<Grant>(&plain).ok()) else {
            // Only a changed SESSION_KEY (or tampering) does this; the user connects again.
            console_error!("mailconnect: a stored grant for {id} cannot be decrypted");
            return Ok(None);
        };
        // Another call may have stored a newer grant while this one was decrypting.
        Ok(Some(self.grants.borrow_mut().entry(id.to_owned()).or_insert(grant).clone()))
    }

    /// Encrypts and persists `grant`, then caches it.
    async fn store(&self, config: &Config, handle: &SessionId, id: &str, grant: &Grant) -> Result<(), EdgeError> {
        let key = self.key(config, handle).await?;
        let plain = serde_json::to_vec(grant).map_err(|e| EdgeError::Internal(e.to_string()))?;
        let sealed = crypto::seal(&key, &aad(id), &plain).await?;
        self.state.storage().put(&record_key(id), base64url(&sealed)).await?;
        self.grants.borrow_mut().insert(id.to_owned(), grant.clone());
        Ok(())
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
    async fn refresh(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<Grant, EdgeError> {
        let connector = config.connector(id)?;
        let current = self.grant(config, handle, id).await?.ok_or(EdgeError::NotConnected)?;
        if current.is_fresh(upstream::now(), connector.expiry_margin) {
            return Ok(current);
        }
        let generation = self.generation(id);
        let fresh = refresh::refresh(connector, &current).await?;
        if self.generation(id) != generation {
            // Disconnected or connected again meanwhile: do not bring the old grant back. If
            // nothing replaced it, nobody holds the new refresh token (a strict-rotation provider
            // revoked the one disconnect did), so it is revoked too. Not after a new connect: a
            // provider may revoke more than the one grant.
            if !self.grants.borrow().contains_key(id) && connector.provider.revocation_url().is_some() {
                self.revoke_later(config, id, fresh);
            }
            return Err(EdgeError::NotConnected);
        }
        // Persisted before any caller sees the new token: a rotated refresh token is never lost.
        self.store(config, handle, id, &fresh).await?;
        Ok(fresh)
    }
}
