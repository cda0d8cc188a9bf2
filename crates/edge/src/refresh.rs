//! The refresh token grant (RFC 6749 §6).
//!
//! # Security
//! Refresh tokens never leave the edge. The [`Session`](crate::Session) Durable Object calls
//! this once per connector at a time, stores what comes back before answering, and keeps the
//! old grant when the call fails, so neither a timeout nor a strict-rotation provider (only the
//! newest refresh token works) can lose the connection.

use oauth2::Scope;

use crate::config::Connector;
use crate::error::EdgeError;
use crate::upstream::{self, Grant};

/// A new grant for `current`'s refresh token. Without a refresh token (no `offline_access`),
/// the only way on is to connect again.
pub(crate) async fn refresh(connector: &Connector, current: &Grant) -> Result<Grant, EdgeError> {
    let refresh_token = oauth2::RefreshToken::new(current.refresh_token.as_ref().ok_or(EdgeError::NotConnected)?.expose().to_owned());
    let client = upstream::client(connector)?;
    // Entra's v2 endpoint wants the scopes again; others accept a subset of the original grant.
    let mut request = client.exchange_refresh_token(&refresh_token).add_scopes(connector.scopes.iter().map(|s| Scope::new(s.as_str().to_owned())));
    for (name, value) in upstream::client_assertion(connector).await? {
        request = request.add_extra_param(name, value);
    }
    let timeout = connector.timeout;
    let response = request.request_async(&|request| upstream::send(request, timeout)).await.map_err(upstream::token_error)?;
    Ok(upstream::grant(&response, connector, Some(current), upstream::now()))
}
