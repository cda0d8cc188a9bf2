//! The authorization code grant's confidential half (RFC 6749 §4.1.3): redeeming the browser's
//! code with its PKCE verifier.
//!
//! # Security
//! The route checked the code's shape and that the redirect URI is exactly one of the
//! connector's before this is called; here the Worker authenticates as the confidential client.
//! Neither the code nor the verifier is logged.

use std::borrow::Cow;

use mailconnect_core::contract::TokenRequest;
use oauth2::{AuthorizationCode, PkceCodeVerifier, RedirectUrl};

use super::{ClientCall, Grant};
use crate::config::Connector;
use crate::error::EdgeError;

/// Redeems the code at the provider.
pub(crate) async fn exchange(connector: &Connector, request: TokenRequest) -> Result<Grant, EdgeError> {
    let redirect_uri = RedirectUrl::new(request.redirect_uri).map_err(|_| EdgeError::RedirectUri)?;
    let call = ClientCall::new(connector).await?;
    let answer = call
        .client()
        .exchange_code(AuthorizationCode::new(request.code.expose().to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(request.code_verifier.expose().to_owned()))
        .set_redirect_uri(Cow::Owned(redirect_uri))
        .request_async(&|request| call.send(request))
        .await;
    call.grant(answer, None)
}
