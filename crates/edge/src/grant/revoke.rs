//! Token revocation (RFC 7009), when a browser disconnects a connector whose provider has a
//! revocation endpoint (Zoom, a generic provider with `revocation_url`; Entra ID has none).
//!
//! The request is built here rather than by `oauth2`, whose `revoke_token` refuses any endpoint
//! that is not `https://`, loopback included: the local stack and the tests run the provider on
//! `http://127.0.0.1`, as they do for the authorize and token endpoints. It costs less too.
//!
//! # Security
//! The [`Session`](crate::Session) Durable Object forgets the grant first and revokes after it
//! has answered, so a failure here never keeps a token at the edge: it only leaves the token
//! valid at the provider until it expires. The client authenticates as at the token endpoint
//! (HTTP Basic, the secret in the body, or a certificate assertion), the request goes through
//! the same [`ClientCall`] (no `Origin`, no redirects, the connector's timeout), and it is sent once.

use mailconnect_core::encoding::{base64, form_encode, form_serialize};
use oauth2::http::{header, Method};

use super::{ClientCall, Grant};
use crate::config::{Connector, Credential};
use crate::error::EdgeError;

/// Revokes `grant` at `connector`'s provider: its refresh token, which for providers that tie
/// access tokens to it (as RFC 7009 §2.1 allows) ends those too, or else its access token.
/// Nothing to do for a provider without a revocation endpoint.
pub(crate) async fn revoke(connector: &Connector, grant: &Grant) -> Result<(), EdgeError> {
    let Some(url) = connector.provider.revocation_url() else {
        return Ok(());
    };
    let (token, hint) = match &grant.refresh_token {
        Some(refresh_token) => (refresh_token.expose(), "refresh_token"),
        None => (grant.access_token.expose(), "access_token"),
    };
    let mut form = vec![("token", token.to_owned()), ("token_type_hint", hint.to_owned())];
    let mut request = oauth2::http::Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    match &connector.credential {
        Credential::Secret { secret, in_body: false } => request = request.header(header::AUTHORIZATION, basic(&connector.client_id, secret.expose())),
        Credential::Secret { secret, in_body: true } => {
            form.extend([("client_id", connector.client_id.clone()), ("client_secret", secret.expose().to_owned())])
        }
        // The assertion itself comes with the call.
        Credential::Certificate(_) => form.push(("client_id", connector.client_id.clone())),
    }
    let body = form_serialize(form.iter().map(|(name, value)| (*name, value.as_str())));
    let request = request.body(body.into_bytes()).map_err(|e| EdgeError::Config { setting: format!("CONNECTORS.{}", connector.id), problem: e.to_string() })?;
    ClientCall::new(connector).await?.send(request).await.map(drop)
}

/// HTTP Basic client authentication as RFC 6749 §2.3.1 has it: id and secret form-encoded first.
fn basic(client_id: &str, secret: &str) -> String {
    let mut credentials = String::new();
    form_encode(client_id, &mut credentials);
    credentials.push(':');
    form_encode(secret, &mut credentials);
    format!("Basic {}", base64(credentials.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        assert_eq!(basic("zoom-client", "s3cr3t"), format!("Basic {}", base64(b"zoom-client:s3cr3t")));
        assert_eq!(basic("a:b", "p w+%"), format!("Basic {}", base64(b"a%3Ab:p+w%2B%25")));
    }
}
