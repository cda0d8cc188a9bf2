//! The token endpoint: the `oauth2` client for a connector, its HTTP transport over the
//! runtime's `fetch` (also for the revocation endpoint), client authentication, and what a token
//! response becomes.
//!
//! # Security
//! Requests go out without an `Origin` header (with one, Entra treats the redemption as a
//! cross-origin SPA call and fails with AADSTS9002326), do not follow redirects, and give up
//! after `UPSTREAM_TIMEOUT_MS`. Every non-200 reply is classified here with core's
//! [`OAuthError`]: `oauth2`'s `StandardErrorResponse` would drop Entra's `error_codes` and the
//! HTTP status, which decide the action. Parse failures keep the failing path, never the body:
//! half-parsed, it still holds tokens.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use mailconnect_core::contract::{Account, TokenResponse};
use mailconnect_core::encoding::{base64_decode, base64url};
use mailconnect_core::{AccessToken, OAuthError, RefreshToken};
use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, ClientId, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use worker::Date;

use crate::config::{Connector, Credential};
use crate::crypto;
use crate::error::{js_message, EdgeError};

/// The `id_token` of an OpenID Connect token response, which `oauth2` does not model.
#[derive(Deserialize, Serialize)]
pub(crate) struct IdToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

impl ExtraTokenFields for IdToken {}

type ProviderTokenResponse = StandardTokenResponse<IdToken, BasicTokenType>;

/// An `oauth2` client for one connector's token endpoint.
pub(crate) type Client<HasTokenUrl = EndpointSet> = oauth2::Client<
    BasicErrorResponse,
    ProviderTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
>;

/// The error `request_async` returns with our transport.
pub(crate) type TokenError = RequestTokenError<EdgeError, BasicErrorResponse>;

/// What a token endpoint granted, as a session stores it (encrypted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Grant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) access_token: AccessToken,
    /// Seconds since the Unix epoch.
    pub(crate) expires_at: u64,
    pub(crate) scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account: Option<Account>,
}

impl Grant {
    /// Whether the access token can be handed out without going upstream: it has more than
    /// `margin` seconds (the connector's `token_expiry_margin`) left.
    pub(crate) fn is_fresh(&self, now: u64, margin: u64) -> bool {
        self.expires_at > now + margin
    }

    /// The browser's view: no refresh token.
    pub(crate) fn to_response(&self, now: u64) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token.clone(),
            token_type: "Bearer".into(),
            expires_in: self.expires_at.saturating_sub(now),
            expires_at: self.expires_at,
            scope: self.scope.clone(),
            account: self.account.clone(),
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    Date::now().as_millis() / 1000
}

/// The `oauth2` client for `connector`, authenticating with its secret if it has one.
pub(crate) fn client(connector: &Connector) -> Result<Client, EdgeError> {
    let token_url = TokenUrl::new(connector.provider.token_url())
        .map_err(|e| EdgeError::Config { setting: format!("CONNECTORS.{}", connector.id), problem: format!("token endpoint: {e}") })?;
    let client = Client::<EndpointNotSet>::new(ClientId::new(connector.client_id.clone())).set_token_uri(token_url);
    Ok(match &connector.credential {
        Credential::Secret { secret, in_body } => client.set_client_secret(oauth2::ClientSecret::new(secret.expose().to_owned())).set_auth_type(if *in_body {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        }),
        // Without a secret, `oauth2` puts client_id in the body, next to the assertion.
        Credential::Certificate(_) => client.set_auth_type(AuthType::RequestBody),
    })
}

thread_local! {
    // Importing an RSA key costs about a millisecond; a connector's key never changes in an isolate.
    static RSA_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
}

/// The RFC 7523 `client_assertion` parameters for a certificate connector; none for a secret.
pub(crate) async fn client_assertion(connector: &Connector) -> Result<Vec<(&'static str, String)>, EdgeError> {
    let Credential::Certificate(certificate) = &connector.credential else {
        return Ok(Vec::new());
    };
    let key = match RSA_KEYS.with_borrow(|keys| keys.get(&connector.id).cloned()) {
        Some(key) => key,
        None => {
            let key = crypto::rsa_key(certificate.pkcs8())
                .await
                .map_err(|_| EdgeError::Config { setting: certificate.setting.clone(), problem: "is not an RSA private key in PKCS#8".into() })?;
            RSA_KEYS.with_borrow_mut(|keys| keys.insert(connector.id.clone(), key.clone()));
            key
        }
    };
    let now = now();
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": certificate.x5t });
    let claims = serde_json::json!({
        "aud": connector.provider.token_url(),
        "iss": connector.client_id,
        "sub": connector.client_id,
        "jti": base64url(&crypto::random::<16>()?),
        "iat": now,
        "nbf": now,
        // Short-lived: the assertion is sent at once and must not be replayable for long.
        "exp": now + 300,
    });
    let mut jwt = format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()));
    let signature = crypto::sign_rs256(&key, jwt.as_bytes()).await?;
    jwt.push('.');
    jwt.push_str(&base64url(&signature));
    Ok(vec![("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()), ("client_assertion", jwt)])
}

/// Sends one request to a token (or revocation) endpoint. Only a 200 reaches `oauth2`; every
/// other reply becomes an [`EdgeError`] here, classified by core.
pub(crate) async fn send(request: HttpRequest, timeout: Duration) -> Result<HttpResponse, EdgeError> {
    // Straight to the runtime's fetch(url, init), as a JavaScript Worker would call it: through
    // `worker::Fetch` a request is a Request object, which fetch then copies with the signal;
    // measured, the two Request constructions and a Headers object cost about 1 ms per call.
    let headers = js_sys::Object::new();
    for (name, value) in request.headers() {
        let value = value.to_str().map_err(|_| EdgeError::Internal(format!("non-ASCII {name} header")))?;
        js_sys::Reflect::set(&headers, &name.as_str().into(), &value.into()).map_err(|_| EdgeError::Internal(format!("the {name} header")))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_body(&js_sys::Uint8Array::from(request.body().as_slice()));
    // The runtime's own timer: it also aborts reading the body, and needs no callback into wasm.
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_f64(timeout.as_millis() as f64)));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let exchange = async {
        let response: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(&request.uri().to_string(), &init)).await?.unchecked_into();
        let content_type = response.headers().get("content-type")?;
        let body = JsFuture::from(response.array_buffer()?).await?;
        Ok::<_, JsValue>((response.status(), content_type, js_sys::Uint8Array::new(&body).to_vec()))
    };
    let (status, content_type, body) = exchange.await.map_err(|e| {
        let name = js_sys::Reflect::get(&e, &"name".into()).ok().and_then(|n| n.as_string());
        if name.as_deref() == Some("TimeoutError") {
            EdgeError::Timeout
        } else {
            EdgeError::Unreachable(js_message(&e))
        }
    })?;
    if status != 200 {
        return Err(match OAuthError::from_json(&body) {
            Some(error) => EdgeError::Provider { status, error },
            None => EdgeError::UpstreamStatus(status),
        });
    }
    let mut response = oauth2::http::Response::builder().status(status);
    if let Some(content_type) = content_type {
        response = response.header(oauth2::http::header::CONTENT_TYPE, content_type);
    }
    response.body(body).map_err(|e| EdgeError::UpstreamMalformed(e.to_string()))
}

/// Unwraps `oauth2`'s error: our transport's own, or a response that did not parse.
pub(crate) fn token_error(error: TokenError) -> EdgeError {
    match error {
        RequestTokenError::Request(e) => e,
        // The body is dropped on purpose.
        RequestTokenError::Parse(e, _body) => EdgeError::UpstreamMalformed(format!("at {}: {}", e.path(), e.inner())),
        other => EdgeError::UpstreamMalformed(other.to_string()),
    }
}

/// What a 200 token response grants. A response without a refresh token keeps `previous`'s
/// (not every provider rotates), and one without an ID token keeps the known account.
pub(crate) fn grant(response: &ProviderTokenResponse, connector: &Connector, previous: Option<&Grant>, now: u64) -> Grant {
    let scope = match response.scopes() {
        Some(scopes) => scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
        None => previous.map_or_else(|| connector.scopes.to_string(), |p| p.scope.clone()),
    };
    Grant {
        refresh_token: response.refresh_token().map(|t| RefreshToken::new(t.secret().as_str())).or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        access_token: AccessToken::new(response.access_token().secret().as_str()),
        // RFC 6749 recommends expires_in; every provider we know sends it. Without it, assume
        // the common hour.
        expires_at: now + response.expires_in().map_or(3600, |d| d.as_secs()),
        scope,
        account: response.extra_fields().id_token.as_deref().and_then(account).or_else(|| previous.and_then(|p| p.account.clone())),
    }
}

/// The account named in an ID token. Its signature is not checked: it came straight from the
/// token endpoint over TLS (OpenID Connect Core §3.1.3.7), and it is shown, never trusted.
fn account(id_token: &str) -> Option<Account> {
    #[derive(Deserialize)]
    struct Claims {
        name: Option<String>,
        preferred_username: Option<String>,
        email: Option<String>,
        oid: Option<String>,
        sub: Option<String>,
        tid: Option<String>,
    }
    let payload = base64_decode(id_token.split('.').nth(1)?)?;
    let c: Claims = serde_json::from_slice(&payload).ok()?;
    Some(Account { name: c.name, username: c.preferred_username.or(c.email), oid: c.oid.or(c.sub), tid: c.tid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_reads_entra_claims_and_falls_back_to_oidc_ones() {
        let jwt = |claims: &str| format!("e30.{}.sig", base64url(claims.as_bytes()));
        let entra = account(&jwt(r#"{"name":"Ann","preferred_username":"ann@contoso.com","oid":"o-1","sub":"s-1","tid":"t-1"}"#)).unwrap();
        assert_eq!(entra, Account { name: Some("Ann".into()), username: Some("ann@contoso.com".into()), oid: Some("o-1".into()), tid: Some("t-1".into()) });
        let oidc = account(&jwt(r#"{"sub":"s-2","email":"bob@example.com"}"#)).unwrap();
        assert_eq!((oidc.username.as_deref(), oidc.oid.as_deref()), (Some("bob@example.com"), Some("s-2")));
        assert_eq!(account("not-a-jwt"), None);
    }

    #[test]
    fn grant_keeps_the_old_refresh_token_when_none_is_rotated_in() {
        let previous = Grant {
            refresh_token: Some(RefreshToken::new("old-rt")),
            access_token: AccessToken::new("old-at"),
            expires_at: 0,
            scope: "User.Read".into(),
            account: Some(Account { name: Some("Ann".into()), ..Account::default() }),
        };
        let response: ProviderTokenResponse = serde_json::from_str(r#"{"access_token":"new-at","token_type":"Bearer","expires_in":3599}"#).unwrap();
        let connector = test_connector();
        let g = grant(&response, &connector, Some(&previous), 1000);
        assert_eq!((g.refresh_token.unwrap().expose(), g.access_token.expose(), g.expires_at), ("old-rt", "new-at", 4599));
        assert_eq!((g.scope.as_str(), g.account.unwrap().name.unwrap().as_str()), ("User.Read", "Ann"));
        let rotated: ProviderTokenResponse =
            serde_json::from_str(r#"{"access_token":"a","token_type":"bearer","expires_in":60,"refresh_token":"new-rt","scope":"openid User.Read"}"#).unwrap();
        let g = grant(&rotated, &connector, Some(&previous), 0);
        assert_eq!((g.refresh_token.as_ref().unwrap().expose(), g.scope.as_str()), ("new-rt", "openid User.Read"));
        assert!(!g.is_fresh(0, connector.expiry_margin), "a 60 s token is inside the default margin");
        assert!(g.is_fresh(0, 30) && !g.is_fresh(30, 30), "fresh until expires_at minus the margin");
    }

    #[test]
    fn stored_grant_round_trips_and_browser_view_has_no_refresh_token() {
        let g =
            Grant { refresh_token: Some(RefreshToken::new("rt")), access_token: AccessToken::new("at"), expires_at: 1000, scope: "s".into(), account: None };
        let stored = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Grant>(&stored).unwrap().refresh_token.unwrap().expose(), "rt");
        let browser = serde_json::to_string(&g.to_response(400)).unwrap();
        assert_eq!(browser, r#"{"access_token":"at","token_type":"Bearer","expires_in":600,"expires_at":1000,"scope":"s"}"#);
        assert!(format!("{g:?}").contains("[redacted]") && !format!("{g:?}").contains("\"rt\""));
    }

    fn test_connector() -> Connector {
        Connector {
            id: "teams".into(),
            provider: mailconnect_core::Provider::zoom(),
            client_id: "c".into(),
            scopes: mailconnect_core::Scopes::parse("User.Read").unwrap(),
            redirect_uris: vec!["https://a/cb".into()],
            prompt: None,
            domain_hint: None,
            credential: Credential::Secret { secret: mailconnect_core::ClientSecret::new("s"), in_body: false },
            timeout: std::time::Duration::from_secs(1),
            expiry_margin: 300,
            app: None,
        }
    }
}
