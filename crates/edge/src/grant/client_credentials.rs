//! The client credentials grant (RFC 6749 §4.4): app-only tokens for mail servers.
//!
//! # Security
//! The Worker authenticates as the confidential client exactly as the user flows do
//! ([`ClientCall`]). Microsoft's token is the tenant's, for `{resource}/.default`, which the
//! settings check at load.

use super::{scopes, ClientCall, Grant};
use crate::config::Connector;
use crate::error::EdgeError;

/// A new app-only token for `connector`.
pub(crate) async fn client_credentials(connector: &Connector) -> Result<Grant, EdgeError> {
    let call = ClientCall::new(connector).await?;
    let answer = call.client().exchange_client_credentials().add_scopes(scopes(connector)).request_async(&|request| call.send(request)).await;
    call.grant(answer, None)
}
