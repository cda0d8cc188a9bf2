//! The provider calls: one module per grant, each only building its request, and the one path
//! they all take to the token endpoint ([`ClientCall`]): the connector's `oauth2` client (built
//! once, at settings load), its client assertion ([`assertion`]), the transport
//! ([`transport`]), and the [`Grant`] the answer yields.
//!
//! # Security
//! Parse failures keep the failing path, never the body: half-parsed, it still holds tokens.
//! Errors are classified by [`transport`] with core's `OAuthError`.

mod assertion;
pub(crate) mod auth_code;
pub(crate) mod client_credentials;
pub(crate) mod password;
pub(crate) mod refresh;
pub(crate) mod revoke;
mod transport;

use mailconnect_core::contract::{Account, TokenResponse};
use mailconnect_core::encoding::{base64_decode, form_serialize};
use mailconnect_core::{secret_type, AccessToken, RefreshToken};
use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, ClientId, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use worker::Date;

use crate::config::{Connector, Credential};
use crate::error::EdgeError;

secret_type! {
    /// An OpenID Connect ID token, as the token endpoint sent it.
    #[derive(Deserialize, Serialize)]
    #[serde(transparent)]
    pub(crate) struct IdToken(String);
}

/// The `id_token` of an OpenID Connect token response, which `oauth2` does not model.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<IdToken>,
}

impl ExtraTokenFields for IdTokenField {}

type ProviderTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

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
type TokenError = RequestTokenError<EdgeError, BasicErrorResponse>;

/// The `oauth2` client for a connector's token endpoint, authenticating with its secret if it
/// has one. Settings call it once per connector, at load.
pub(crate) fn client(client_id: &str, token_url: &str, credential: &Credential) -> Result<Client, oauth2::url::ParseError> {
    let client = Client::<EndpointNotSet>::new(ClientId::new(client_id.to_owned())).set_token_uri(TokenUrl::new(token_url.to_owned())?);
    Ok(match credential {
        Credential::Secret { secret, in_body } => client.set_client_secret(oauth2::ClientSecret::new(secret.expose().to_owned())).set_auth_type(if *in_body {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        }),
        // Without a secret, `oauth2` puts client_id in the body, next to the assertion.
        Credential::Certificate(_) => client.set_auth_type(AuthType::RequestBody),
    })
}

/// One call to the provider as the connector's client, the path every grant (and revocation)
/// takes: the grant builds its request with [`ClientCall::client`], `oauth2` sends it through
/// [`ClientCall::send`], which adds the client assertion of a certificate connector, and
/// [`ClientCall::grant`] turns the answer into a [`Grant`].
pub(crate) struct ClientCall<'a> {
    connector: &'a Connector,
    /// The form-encoded `client_assertion` parameters; empty for a secret.
    assertion: String,
}

impl<'a> ClientCall<'a> {
    /// Prepares a call for `connector` (signing its assertion, if it has a certificate).
    pub(crate) async fn new(connector: &'a Connector) -> Result<ClientCall<'a>, EdgeError> {
        let assertion = assertion::client_assertion(connector).await?;
        Ok(ClientCall { connector, assertion: form_serialize(assertion.iter().map(|(name, value)| (*name, value.as_str()))) })
    }

    /// The connector's `oauth2` client.
    pub(crate) fn client(&self) -> &'a Client {
        &self.connector.client
    }

    /// Sends a form POST to the provider, with the client assertion appended to the form.
    pub(crate) async fn send(&self, mut request: HttpRequest) -> Result<HttpResponse, EdgeError> {
        if !self.assertion.is_empty() {
            let body = request.body_mut();
            if !body.is_empty() {
                body.push(b'&');
            }
            body.extend_from_slice(self.assertion.as_bytes());
        }
        transport::send(request, self.connector.timeout).await
    }

    /// What the token endpoint's answer grants; `previous` is the grant being refreshed.
    pub(crate) fn grant(&self, answer: Result<ProviderTokenResponse, TokenError>, previous: Option<&Grant>) -> Result<Grant, EdgeError> {
        Ok(grant(&answer.map_err(token_error)?, self.connector, previous, now()))
    }
}

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

/// The connector's scopes, as `oauth2` takes them.
fn scopes(connector: &Connector) -> impl Iterator<Item = oauth2::Scope> + '_ {
    connector.scopes.iter().map(|s| oauth2::Scope::new(s.as_str().to_owned()))
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    Date::now().as_millis() / 1000
}

/// Unwraps `oauth2`'s error: our transport's own, or a response that did not parse.
fn token_error(error: TokenError) -> EdgeError {
    match error {
        RequestTokenError::Request(e) => e,
        // The body is dropped on purpose.
        RequestTokenError::Parse(e, _body) => EdgeError::UpstreamMalformed(format!("at {}: {}", e.path(), e.inner())),
        other => EdgeError::UpstreamMalformed(other.to_string()),
    }
}

/// What a 200 token response grants. A response without a refresh token keeps `previous`'s
/// (not every provider rotates), and one without an ID token keeps the known account.
fn grant(response: &ProviderTokenResponse, connector: &Connector, previous: Option<&Grant>, now: u64) -> Grant {
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
        account: response.extra_fields().id_token.as_ref().and_then(|t| account(t.expose())).or_else(|| previous.and_then(|p| p.account.clone())),
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
    use mailconnect_core::encoding::base64url;

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
        let connector = Connector::test("https://a/cb");
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
}
