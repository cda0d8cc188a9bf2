//! `app-token`: an app-only token, or its XOAUTH2 strings, from the edge's
//! `POST /connectors/{id}/app-token`, for a mail host that holds no client secret.

use crate::edge_client::{self, Failure};
use mailconnect_core::contract::{route, AppTokenRequest, AppTokenResponse};

/// Asks the edge at `edge` for `connector`'s app token.
pub fn request(edge: &str, connector: &str, user: Option<&str>, api_key: &str) -> Result<AppTokenResponse, Failure> {
    edge_client::post(&route::APP_TOKEN.url(edge, connector), &AppTokenRequest { user: user.map(str::to_owned) }, api_key, "an app token")
}
