//! The refresh token grant (RFC 6749 §6).
//!
//! # Security
//! Refresh tokens never leave the edge. The [`Session`](crate::Session) Durable Object calls
//! this once per connector at a time, stores what comes back before answering, and keeps the
//! old grant when the call fails, so neither a timeout nor a strict-rotation provider (only the
//! newest refresh token works) can lose the connection.

use super::{scopes, ClientCall, Grant};
use crate::config::Connector;
use crate::error::EdgeError;

/// A new grant for `current`'s refresh token. Without a refresh token (no `offline_access`),
/// the only way on is to connect again.
pub(crate) async fn refresh(connector: &Connector, current: &Grant) -> Result<Grant, EdgeError> {
    let refresh_token = oauth2::RefreshToken::new(current.refresh_token.as_ref().ok_or(EdgeError::NotConnected)?.expose().to_owned());
    let call = ClientCall::new(connector).await?;
    // Entra's v2 endpoint wants the scopes again; others accept a subset of the original grant.
    let answer = call.client().exchange_refresh_token(&refresh_token).add_scopes(scopes(connector)).request_async(&|request| call.send(request)).await;
    call.grant(answer, Some(current))
}
