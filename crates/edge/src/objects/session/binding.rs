//! Sessions that belong to the webmail's users (`USER_TICKET_KEYS`), and handles that change.
//!
//! With user binding, two kinds of [`Session`] objects work together:
//! - a **user's object** (see [`address::user`]) holds the user's grants, so the same user on
//!   every device shares connections, and a refresh is single-flight across all of them;
//! - a **browser's object** (named by its cookie's handle, as without user binding) holds only
//!   the binding: the account id, sealed under the handle's key, and the session's lifetime.
//!   Every browser route goes to it, and it hands the call to its user's object.
//!
//! The binding lives in the browser's object rather than in a sealed cookie, so that it can be
//! ended: `POST /oauth/session/end` deletes it and a copy of the old cookie is worth nothing,
//! while the user's other devices, bound in objects of their own, stay signed in.
//!
//! Binding makes a new browser object under a fresh handle and ends the previous one, so a bind
//! to another user switches cleanly: nothing of the previous user is reachable from the new
//! handle. A connect, bound or not, also moves the session to a fresh handle
//! ([`Session::adopt`]): the previous object hands over what it holds, re-sealed under the new
//! handle's key, and ends.
//!
//! # Security
//! A ticket's signature and claims are checked by the Worker (`routes::session::bind`); its
//! `jti` is remembered by the user's object until `exp`, so a ticket binds once. No object ever
//! takes a handle from a client: the Worker makes every new one.

use std::rc::Rc;

use mailconnect_core::contract::{AccountId, Disconnected, UserTokenRequest, UserTokenResponse};
use mailconnect_core::ticket::TicketError;
use mailconnect_core::SessionId;
use serde::{Deserialize, Serialize};

use super::{aad, address, record_key, Meta, Op, Session};
use crate::config::{Config, Users};
use crate::error::EdgeError;
use crate::grant::now;
use crate::routes::app_token::{check_user, sasl};
use crate::routes::{parse, session_cookie};
use crate::rpc::Answer;

/// Where a browser's object keeps its binding.
const BINDING: &str = "binding";
const BINDING_AAD: &[u8] = b"mailconnect/binding/v1";
/// Where a user's object keeps the `jti`s it has seen.
const TICKETS: &str = "tickets";

/// A verified ticket's claims, from the Worker to the browser's new object and on to the user's.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Binding {
    pub(crate) account: AccountId,
    pub(crate) jti: String,
    pub(crate) exp: u64,
}

/// Everything a session holds, for the object of its new handle: the grants as the plaintext
/// of their records (connector id, JSON), which the new object seals under its own key.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Handover {
    meta: Option<Meta>,
    account: Option<AccountId>,
    grants: Vec<(String, String)>,
}

fn users(config: &Config) -> Result<&Users, EdgeError> {
    // The Worker sends binding calls only with user binding on.
    config.users.as_ref().ok_or(EdgeError::NotFound)
}

impl Session {
    /// A browser's new object: binds it to the ticket's user, once the user's object accepted
    /// the ticket's `jti`, and ends the browser's previous session.
    pub(super) async fn bind(&self, config: &Config, handle: &SessionId, request: Option<String>, previous: Option<SessionId>) -> Result<Answer, EdgeError> {
        let env = &self.inner.env;
        let request = request.unwrap_or_default();
        let binding: Binding = parse(request.as_bytes())?;
        let (user, user_handle) = address::user(env, users(config)?, &binding.account)?;
        let claimed = address::call(&user, Op::Claim, &user_handle, "", Some(&request), None).await?;
        if claimed.status() != 200 {
            return Ok(claimed);
        }
        if let Some(previous) = previous {
            let ended = address::call(&address::browser(env, &previous)?, Op::End, &previous, "", None, None).await?;
            if ended.status() != 200 {
                return Ok(ended);
            }
        }
        self.inner.begin(config, now()).await?;
        self.inner.seal_record(config, handle, BINDING, BINDING_AAD, binding.account.as_str().as_bytes()).await?;
        let info = address::call(&user, Op::Info, &user_handle, "", None, None).await?;
        info.add_header("set-cookie", &session_cookie(handle.expose(), config.session_max));
        Ok(info)
    }

    /// A browser route of a browser's object with user binding: handed to its user's object.
    /// Unbound (never bound, ended, expired), it asks for a ticket.
    pub(super) async fn forward(
        &self,
        config: &Config,
        op: Op,
        handle: &SessionId,
        connector: &str,
        request: Option<String>,
        previous: Option<SessionId>,
    ) -> Result<Answer, EdgeError> {
        if let Some(previous) = &previous {
            self.adopt(config, handle, previous).await?;
        }
        let Some(account) = self.account(config, handle).await? else {
            // The cookie stays: the bind that follows replaces it, and a call that raced a
            // connect's move to a new handle must not clear the new cookie.
            return Ok(Answer::of::<()>(Err(EdgeError::TicketRequired)));
        };
        let (user, user_handle) = address::user(&self.inner.env, users(config)?, &account)?;
        let answer = address::call(&user, op, &user_handle, connector, request.as_deref(), None).await?;
        if previous.is_some() {
            answer.add_header("set-cookie", &session_cookie(handle.expose(), config.session_max));
        }
        Ok(answer)
    }

    /// The user this browser's live session is bound to.
    async fn account(&self, config: &Config, handle: &SessionId) -> Result<Option<AccountId>, EdgeError> {
        match self.inner.live(config, now()).await {
            Ok(()) => {}
            Err(EdgeError::SessionExpired) => return Ok(None),
            Err(e) => return Err(e),
        }
        let plain = self.inner.open_record(config, handle, BINDING, BINDING_AAD).await?.flatten();
        Ok(plain.and_then(|plain| AccountId::parse(std::str::from_utf8(&plain).ok()?)))
    }

    /// A user's object: remembers the ticket's `jti` until its `exp`; a second time, refuses it.
    pub(super) async fn claim(&self, config: &Config, request: Option<String>) -> Result<(), EdgeError> {
        let inner = &self.inner;
        let binding: Binding = parse(request.unwrap_or_default().as_bytes())?;
        if inner.tickets.borrow().is_none() {
            // One line per ticket: `exp jti` (a jti is printable ASCII without spaces).
            let stored = inner.state.storage().get::<String>(TICKETS).await?.unwrap_or_default();
            let stored = stored.lines().filter_map(|line| {
                let (exp, jti) = line.split_once(' ')?;
                Some((jti.to_owned(), exp.parse().ok()?))
            });
            inner.tickets.borrow_mut().get_or_insert_with(|| stored.collect());
        }
        let now = now();
        // Checked and recorded without an `await` in between, so two calls cannot both pass.
        let tickets = {
            let mut tickets = inner.tickets.borrow_mut();
            let tickets = tickets.get_or_insert_with(Default::default);
            tickets.retain(|_, exp| *exp > now);
            if tickets.insert(binding.jti, binding.exp).is_some() {
                return Err(EdgeError::Ticket(TicketError::Replayed));
            }
            tickets.iter().map(|(jti, exp)| format!("{exp} {jti}\n")).collect::<String>()
        };
        match inner.live(config, now).await {
            Ok(()) => {}
            Err(EdgeError::SessionExpired) => inner.begin(config, now).await?,
            Err(e) => return Err(e),
        }
        // After `begin`: a session that had ended deleted its storage, but not these.
        Ok(inner.state.storage().put(TICKETS, tickets).await?)
    }

    /// Hands over everything to the object of a new handle, then ends. A refresh in flight ends
    /// first, so that the refresh token handed over is the newest.
    pub(super) async fn handover(&self, config: &Config, handle: &SessionId) -> Result<Handover, EdgeError> {
        let inner = &self.inner;
        match inner.live(config, now()).await {
            Ok(()) => {}
            Err(EdgeError::SessionExpired) => return Ok(Handover::default()),
            Err(e) => return Err(e),
        }
        let mut grants = Vec::new();
        for id in config.connector_ids() {
            if let Some(flight) = inner.flights.current(id) {
                // Its outcome is the record read below, or none.
                let _ = flight.await;
            }
            // The record is the newest grant: a refresh stores it before it answers.
            if let Some(plain) = inner.open_record(config, handle, &record_key(id), &aad(id)).await?.flatten().and_then(|plain| String::from_utf8(plain).ok()) {
                grants.push((id.to_owned(), plain));
            }
        }
        let handover = Handover { meta: inner.meta().await?, account: self.account(config, handle).await?, grants };
        inner.end().await?;
        Ok(handover)
    }

    /// Takes over the session of `previous` under `handle`.
    pub(super) async fn adopt(&self, config: &Config, handle: &SessionId, previous: &SessionId) -> Result<(), EdgeError> {
        let inner = &self.inner;
        let answer = address::call(&address::browser(&inner.env, previous)?, Op::Handover, previous, "", None, None).await?;
        if answer.status() != 200 {
            return Err(EdgeError::Internal("the previous session could not be handed over".into()));
        }
        let handover: Handover = serde_json::from_str(&answer.body()).map_err(|e| EdgeError::Internal(e.to_string()))?;
        let Some(meta) = handover.meta else {
            return Ok(());
        };
        inner.save(meta, config).await?;
        if let Some(account) = handover.account {
            inner.seal_record(config, handle, BINDING, BINDING_AAD, account.as_str().as_bytes()).await?;
        }
        for (id, plain) in handover.grants {
            inner.bump_generation(&id);
            inner.seal_record(config, handle, &record_key(&id), &aad(&id), plain.as_bytes()).await?;
        }
        Ok(())
    }

    /// A user's object, for the back end: the user's token, with the XOAUTH2 strings for the
    /// mailbox the request names, else for the connected account's sign-in name.
    pub(super) async fn user_token(&self, config: &Rc<Config>, handle: &SessionId, id: &str, request: &str) -> Result<UserTokenResponse, EdgeError> {
        let request: UserTokenRequest = if request.is_empty() { UserTokenRequest::default() } else { parse(request.as_bytes())? };
        let mailbox = request.mailbox.map(check_user).transpose()?;
        let token = match self.access_token(config, handle, id).await {
            // The user's object has no live session: nothing was ever connected, or it expired.
            Err(EdgeError::SessionExpired) => return Err(EdgeError::NotConnected),
            token => token?,
        };
        let mailbox = mailbox.or_else(|| token.account.as_ref()?.username.clone());
        let (xoauth2, xoauth2_pop3) = sasl(mailbox.as_deref(), token.access_token.expose())?;
        Ok(UserTokenResponse { token, xoauth2, xoauth2_pop3 })
    }

    /// A user's object, for the back end: forgets the grant for every device of the user.
    pub(super) async fn user_disconnect(&self, config: &Rc<Config>, handle: &SessionId, id: &str) -> Result<Disconnected, EdgeError> {
        match self.disconnect(config, handle, id).await {
            // No live session: nothing to forget.
            Err(EdgeError::SessionExpired) => Ok(Disconnected { status: "disconnected".into() }),
            result => result,
        }
    }
}
