//! The resource owner password grant (RFC 6749 §4.3) for one service mailbox, where a connector
//! explicitly enables it.
//!
//! # Security
//! The user name and password come only from the connector's settings and secrets, never from a
//! request. Microsoft and RFC 9700 §2.4 discourage the grant, and it fails for accounts that
//! need MFA.

use oauth2::{ResourceOwnerPassword, ResourceOwnerUsername};

use super::{scopes, ClientCall, Grant};
use crate::config::{Connector, Mailbox};
use crate::error::EdgeError;

/// A new token for `mailbox` through `connector`.
pub(crate) async fn password(connector: &Connector, mailbox: &Mailbox) -> Result<Grant, EdgeError> {
    let username = ResourceOwnerUsername::new(mailbox.username.clone());
    let password = ResourceOwnerPassword::new(mailbox.password.expose().to_owned());
    let call = ClientCall::new(connector).await?;
    let answer = call.client().exchange_password(&username, &password).add_scopes(scopes(connector)).request_async(&|request| call.send(request)).await;
    call.grant(answer, None)
}
