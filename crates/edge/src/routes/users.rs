//! The webmail back end's routes for its users: `POST /oauth/users/{account}/connectors/{id}/token`
//! and `.../disconnect`. They reach the user's [`Session`](crate::Session) object, the one every
//! device of the user shares (see the objects' `binding` module), so a token the back end gets
//! is refreshed through the same single flight as the browsers'.
//!
//! # Security
//! Server to server: a call with an `Origin` header or a cookie is refused, and answers carry no
//! CORS headers. The back end's key (`BACKEND_API_KEYS`) is checked like an app-token key, bad
//! ones counted per client by one [`AppTokens`](crate::AppTokens) object for all isolates. A
//! connector serves these routes only with `backend_access = true`.

use std::rc::Rc;

use mailconnect_core::contract::AccountId;
use mailconnect_core::SessionId;
use worker::{Request, Response, RouteContext};

use super::app_token::{bearer, refuse_key};
use super::session::Empty;
use super::{parse, read_body};
use crate::config::Config;
use crate::cors;
use crate::error::EdgeError;
use crate::objects::session::address::{self, SessionStub};
use crate::objects::session::Op;

/// `POST /oauth/users/{account}/connectors/{id}/token` ([`Op::Refresh`]): the user's access
/// token, with the XOAUTH2 strings for the mailbox given, else for the connected account's
/// sign-in name; and `.../disconnect` ([`Op::Disconnect`]): forgets the user's grant on every
/// device, revoking it where the provider can. The user's object answers both; one handler, so
/// that the Worker carries its code once.
pub(crate) async fn call(mut req: Request, ctx: RouteContext<Rc<Config>>, op: Op) -> Result<Response, EdgeError> {
    let (user, handle, id) = match authorize(&mut req, &ctx).await? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let body = read_body(&mut req).await?;
    if op == Op::Disconnect && !body.is_empty() {
        parse::<Empty>(&body)?;
    }
    let body = String::from_utf8(body).map_err(|_| EdgeError::BadRequest("the body must be JSON".into()))?;
    address::call(&user, op, &handle, &id, Some(&body), None).await?.into_response()
}

/// The checks every `users` route makes: the user's object, the handle to call it with and the
/// connector's id; or the answer to a bad key.
async fn authorize(req: &mut Request, ctx: &RouteContext<Rc<Config>>) -> Result<Result<(SessionStub, SessionId, String), Response>, EdgeError> {
    // A page must never hold the back end's key, and a browser's cookie has no business here.
    if cors::origin(req).is_some() {
        return Err(EdgeError::Origin);
    }
    if req.headers().get("cookie")?.is_some() {
        return Err(EdgeError::BadRequest("a server route takes no cookie".into()));
    }
    let users = ctx.data.users.as_ref().ok_or(EdgeError::BackendAccessNotEnabled)?;
    let keys = users.backend_keys.as_ref().ok_or(EdgeError::BackendAccessNotEnabled)?;
    let authorization = req.headers().get("authorization")?.unwrap_or_default();
    if !keys.verify(bearer(&authorization))? {
        return Ok(Err(refuse_key(&ctx.env, "app-tokens/backend", "", req, &authorization).await?));
    }
    // Only a caller with a key learns what the settings allow.
    let account = AccountId::parse(ctx.param("account").map_or("", String::as_str))
        .ok_or_else(|| EdgeError::BadRequest("the account must be 1 to 128 of A-Z a-z 0-9 . _ - @ +".into()))?;
    let (connector, browser) = ctx.data.browser(ctx.param("id").map_or("", String::as_str))?;
    if !browser.backend_access {
        return Err(EdgeError::BackendAccessNotEnabled);
    }
    let (user, handle) = address::user(&ctx.env, users, &account)?;
    Ok(Ok((user, handle, connector.id.clone())))
}
