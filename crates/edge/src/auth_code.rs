//! The authorization code flow's confidential half: the public connector settings the browser
//! builds its authorize URL from, and the code exchange.
//!
//! # Security
//! The browser sends the code with its PKCE verifier; the Worker checks their shape and that
//! the redirect URI is exactly one of the connector's before anything goes upstream, then
//! authenticates as the confidential client. Neither the code nor the verifier is logged.

use std::borrow::Cow;
use std::rc::Rc;

use mailconnect_core::contract::TokenRequest;
use oauth2::{AuthorizationCode, PkceCodeVerifier, RedirectUrl};
use worker::{Request, Response, RouteContext};

use crate::config::{Config, Connector};
use crate::cors;
use crate::error::EdgeError;
use crate::upstream::{self, Grant};

/// Authorization codes are opaque; Entra's run to about 1 500 characters.
const MAX_CODE_LEN: usize = 4096;

/// `GET /oauth/connectors/{id}`: the public half of a connector.
pub(crate) async fn connector(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_read(&req, &ctx.data)?;
    let id = ctx.param("id").ok_or(EdgeError::UnknownConnector)?;
    Ok(Response::from_json(&ctx.data.connector(id)?.public())?)
}

/// Checks a token request before it goes upstream. The verifier's charset and length were
/// checked when it was parsed.
pub(crate) fn validate(request: &TokenRequest, connector: &Connector) -> Result<(), EdgeError> {
    let code = request.code.expose();
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EdgeError::BadRequest(format!("code must be 1 to {MAX_CODE_LEN} printable ASCII characters")));
    }
    // Exact string match, as RFC 9700 §4.1.3 requires of the provider; no prefix or pattern.
    if !connector.redirect_uris.contains(&request.redirect_uri) {
        return Err(EdgeError::RedirectUri);
    }
    Ok(())
}

/// Redeems the code at the provider.
pub(crate) async fn exchange(connector: &Connector, request: TokenRequest) -> Result<Grant, EdgeError> {
    let client = upstream::client(connector)?;
    let redirect_uri = RedirectUrl::new(request.redirect_uri).map_err(|_| EdgeError::RedirectUri)?;
    let mut exchange = client
        .exchange_code(AuthorizationCode::new(request.code.expose().to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(request.code_verifier.expose().to_owned()))
        .set_redirect_uri(Cow::Owned(redirect_uri));
    for (name, value) in upstream::client_assertion(connector).await? {
        exchange = exchange.add_extra_param(name, value);
    }
    let timeout = connector.timeout;
    let response = exchange.request_async(&|request| upstream::send(request, timeout)).await.map_err(upstream::token_error)?;
    Ok(upstream::grant(&response, connector, None, upstream::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Credential;
    use mailconnect_core::{ClientSecret, Provider, Scopes};

    fn connector() -> Connector {
        Connector {
            id: "zoom".into(),
            provider: Provider::zoom(),
            client_id: "c".into(),
            scopes: Scopes::parse("meeting:write").unwrap(),
            redirect_uris: vec!["https://mail.example.com/callback.html".into()],
            prompt: None,
            domain_hint: None,
            credential: Credential::Secret { secret: ClientSecret::new("s"), in_body: false },
            timeout: std::time::Duration::from_secs(1),
            expiry_margin: 300,
            app: None,
        }
    }

    fn request(code: &str, redirect_uri: &str) -> TokenRequest {
        serde_json::from_value(serde_json::json!({
            "code": code, "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "redirect_uri": redirect_uri
        }))
        .unwrap()
    }

    #[test]
    fn redirect_uri_must_match_exactly() {
        let c = connector();
        assert!(validate(&request("abc", "https://mail.example.com/callback.html"), &c).is_ok());
        for other in ["https://mail.example.com/callback.html/", "https://mail.example.com/callback.html?x=1", "https://MAIL.example.com/callback.html"] {
            assert!(matches!(validate(&request("abc", other), &c), Err(EdgeError::RedirectUri)), "{other}");
        }
    }

    #[test]
    fn codes_must_be_printable_and_bounded() {
        let c = connector();
        let uri = "https://mail.example.com/callback.html";
        for bad in [String::new(), "a b".into(), "a\nb".into(), "x".repeat(MAX_CODE_LEN + 1)] {
            assert!(matches!(validate(&request(&bad, uri), &c), Err(EdgeError::BadRequest(_))), "{bad:?}");
        }
        assert!(validate(&request(&"M.C5".repeat(400), uri), &c).is_ok());
    }
}
