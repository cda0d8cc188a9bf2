//! `user-token` and `user-disconnect`: the webmail's back end acting for one of its users, with
//! its own API key (`BACKEND_API_KEYS`), through the edge's
//! `POST /users/{account}/connectors/{id}/token` and `.../disconnect`. The token is the user's
//! delegated one, refreshed at the edge as the user's browser would; nothing here ever sees the
//! refresh token.

use crate::edge_client::{self, Failure};
use mailconnect_core::contract::{route, AccountId, Disconnected, UserTokenRequest, UserTokenResponse};

/// Asks the edge at `edge` for `account`'s token of `connector`, with the XOAUTH2 strings for
/// `mailbox` (the connected account's sign-in name when `None`).
pub fn request(edge: &str, account: &AccountId, connector: &str, mailbox: Option<&str>, api_key: &str) -> Result<UserTokenResponse, Failure> {
    let url = route::USER_TOKEN.user_url(edge, account, connector);
    edge_client::post(&url, &UserTokenRequest { mailbox: mailbox.map(str::to_owned) }, api_key, "a user's token")
}

/// Disconnects `account` from `connector` on every device: the edge revokes the grant where the
/// provider can, and forgets it.
pub fn disconnect(edge: &str, account: &AccountId, connector: &str, api_key: &str) -> Result<Disconnected, Failure> {
    edge_client::post(&route::USER_DISCONNECT.user_url(edge, account, connector), &serde_json::json!({}), api_key, "a disconnection")
}
