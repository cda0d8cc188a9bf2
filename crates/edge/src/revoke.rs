//! Token revocation (RFC 7009), when a browser disconnects a connector whose provider has a
//! revocation endpoint (Zoom, a generic provider with `revocation_url`; Entra ID has none).
//!
//! # Security
//! The [`Session`](crate::Session) Durable Object forgets the grant first and revokes after it
//! has answered, so a failure here never keeps a token at the edge: it only leaves the token
//! valid at the provider until it expires. The client authenticates exactly as at the token
//! endpoint (the same `oauth2` client, secret or certificate assertion), the request goes through
//! the same transport (no redirects, `UPSTREAM_TIMEOUT_MS`), and it is sent once, never retried.
//! The endpoint must be `https://` (RFC 7009 §2; `oauth2` refuses anything else).

use oauth2::{RevocationUrl, StandardRevocableToken};

use crate::config::Connector;
use crate::error::EdgeError;
use crate::upstream::{self, Grant};

/// Revokes `grant` at `connector`'s provider: its refresh token, which for providers that tie
/// access tokens to it (as RFC 7009 §2.1 allows) ends those too, or else its access token.
/// Nothing to do for a provider without a revocation endpoint.
pub(crate) async fn revoke(connector: &Connector, grant: &Grant) -> Result<(), EdgeError> {
    let Some(url) = connector.provider.revocation_url() else {
        return Ok(());
    };
    let config_error = |problem: String| EdgeError::Config { setting: format!("CONNECTORS.{}", connector.id), problem };
    let url = RevocationUrl::new(url).map_err(|e| config_error(format!("revocation endpoint: {e}")))?;
    let client = upstream::client(connector)?.set_revocation_url(url);
    let token = match &grant.refresh_token {
        Some(refresh_token) => StandardRevocableToken::RefreshToken(oauth2::RefreshToken::new(refresh_token.expose().to_owned())),
        None => StandardRevocableToken::AccessToken(oauth2::AccessToken::new(grant.access_token.expose().to_owned())),
    };
    let mut request = client.revoke_token(token).map_err(|e| config_error(format!("revocation endpoint: {e}")))?;
    for (name, value) in upstream::client_assertion(connector).await? {
        request = request.add_extra_param(name, value);
    }
    let timeout = connector.timeout;
    request.request_async(&|request| upstream::send(request, timeout)).await.map_err(upstream::token_error)
}
