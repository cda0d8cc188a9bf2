//! Where a session lives: the [`Session`](super::Session) object of a browser's handle, or of a
//! webmail user, and the call to it over RPC.
//!
//! A browser's object is named by a hash of its handle, which is never stored. A user's object is
//! named `user/` + hex HMAC-SHA256(`USER_ID_KEY`, account id), and its grants are sealed under a
//! second HMAC of the account id (`user:`…, the "handle" it is called with): a storage dump
//! shows neither the account id nor anything that opens the grants, even beside the object's
//! name. Browser handles are base64url and never contain `:`, so the two kinds never meet.

use hmac::{Hmac, Mac};
use mailconnect_core::contract::AccountId;
use mailconnect_core::encoding::base64url;
use mailconnect_core::SessionId;
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use worker::Env;

use super::Op;
use crate::config::Users;
use crate::error::EdgeError;
use crate::rpc::{self, Answer};

const USER_HANDLE_PREFIX: &str = "user:";

/// The object of the browser session with `handle`.
pub(crate) fn browser(env: &Env, handle: &SessionId) -> Result<SessionStub, EdgeError> {
    let name = base64url(&Sha256::digest(format!("mailconnect/session/{}", handle.expose())));
    rpc::stub(env, "SESSIONS", "Session", &name)
}

/// The object of webmail user `account`, and the handle to call it with.
pub(crate) fn user(env: &Env, users: &Users, account: &AccountId) -> Result<(SessionStub, SessionId), EdgeError> {
    let mac = |purpose: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(users.id_key.expose()).expect("unreachable: HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(account.as_str().as_bytes());
        mac.finalize().into_bytes()
    };
    let name: String = mac("mailconnect/user/").iter().map(|b| format!("{b:02x}")).collect();
    let handle = SessionId::new(format!("{USER_HANDLE_PREFIX}{}", base64url(&mac("mailconnect/user-key/"))));
    Ok((rpc::stub(env, "SESSIONS", "Session", &format!("user/{name}"))?, handle))
}

/// Whether `handle` is a user's, not a browser's.
pub(crate) fn is_user(handle: &SessionId) -> bool {
    handle.expose().starts_with(USER_HANDLE_PREFIX)
}

/// Calls `op` on the object behind `stub`.
pub(crate) async fn call(
    stub: &SessionStub,
    op: Op,
    handle: &SessionId,
    connector: &str,
    request: Option<&str>,
    previous: Option<&SessionId>,
) -> Result<Answer, EdgeError> {
    rpc::answer(stub.call(op, handle.expose(), connector, request, previous.map(SessionId::expose))).await
}

#[wasm_bindgen]
extern "C" {
    /// The view of a [`Session`](crate::Session) (over RPC, see [`rpc`]).
    #[wasm_bindgen(extends = js_sys::Object)]
    pub(crate) type SessionStub;

    /// [`Session::call`](crate::Session::call).
    #[wasm_bindgen(method, catch)]
    async fn call(this: &SessionStub, op: Op, handle: &str, connector: &str, request: Option<&str>, previous: Option<&str>) -> Result<JsValue, JsValue>;
}
