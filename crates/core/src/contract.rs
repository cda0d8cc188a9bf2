//! The HTTP contract between the browser module and the edge Worker, defined once.
//!
//! Every path is one of [`route`]'s, under `/oauth`. Requests that change state carry an allowed `Origin`,
//! `Content-Type: application/json` and [`CSRF_HEADER`]; the session rides in the
//! [`SESSION_COOKIE`]. No type here that goes to a browser has a field that could hold a refresh
//! token.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/oauth/health` | | [`Health`] |
//! | GET | `/oauth/connectors/{id}` | | [`ConnectorInfo`] |
//! | POST | `/oauth/connectors/{id}/token` | [`TokenRequest`] | [`TokenResponse`] |
//! | POST | `/oauth/connectors/{id}/refresh` | `{}` | [`TokenResponse`] |
//! | POST | `/oauth/connectors/{id}/disconnect` | `{}` | [`Disconnected`] |
//! | GET | `/oauth/session` | | [`SessionInfo`] |
//! | POST | `/oauth/connectors/{id}/app-token` | [`AppTokenRequest`] | [`AppTokenResponse`] |
//! | POST | `/oauth/session/bind` | [`BindRequest`] | [`SessionInfo`] |
//! | POST | `/oauth/session/end` | `{}` | [`Ended`] |
//! | POST | `/oauth/users/{account}/connectors/{id}/token` | [`UserTokenRequest`] | [`UserTokenResponse`] |
//! | POST | `/oauth/users/{account}/connectors/{id}/disconnect` | `{}` | [`Disconnected`] |
//!
//! The `users` routes are the webmail back end's, server to server with an API key (no `Origin`,
//! no cookie); `{account}` is an [`AccountId`].
//!
//! Every error is an [`ErrorBody`] with a fitting HTTP status.

use crate::error::Action;
use crate::pkce::PkceVerifier;
use crate::prelude::*;
use crate::secret::{AccessToken, AuthCode, Ticket};
use serde::{Deserialize, Serialize};

pub mod route {
    //! The API's paths, defined once for the edge's router and for clients.
    //!
    //! The edge serves them under `/oauth` on the webmail's host; [`Route::pattern`] is the
    //! router's pattern from the host's root, with `:id` for a connector id. A client that knows
    //! the API's base URL (e.g. `https://mail.example.com/oauth`) gets a route's URL from
    //! [`Route::url`].
    //!
    //! ```
    //! use mailconnect_core::contract::route;
    //! assert_eq!(route::TOKEN.pattern(), "/oauth/connectors/:id/token");
    //! assert_eq!(route::TOKEN.url("https://mail.example.com/oauth", "teams"), "https://mail.example.com/oauth/connectors/teams/token");
    //! ```

    use crate::prelude::String;

    /// One route of the API.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Route {
        /// Below the API's base, e.g. `/connectors/:id/token`.
        path: &'static str,
        /// From the host's root: `/oauth` and `path`.
        pattern: &'static str,
    }

    /// Both forms from one literal.
    macro_rules! route {
        ($path:literal) => {
            Route { path: $path, pattern: concat!("/oauth", $path) }
        };
    }

    /// `GET`: [`Health`](super::Health).
    pub const HEALTH: Route = route!("/health");
    /// `GET`: [`SessionInfo`](super::SessionInfo).
    pub const SESSION: Route = route!("/session");
    /// `GET`: [`ConnectorInfo`](super::ConnectorInfo).
    pub const CONNECTOR: Route = route!("/connectors/:id");
    /// `POST` [`TokenRequest`](super::TokenRequest): [`TokenResponse`](super::TokenResponse).
    pub const TOKEN: Route = route!("/connectors/:id/token");
    /// `POST {}`: [`TokenResponse`](super::TokenResponse).
    pub const REFRESH: Route = route!("/connectors/:id/refresh");
    /// `POST {}`: [`Disconnected`](super::Disconnected).
    pub const DISCONNECT: Route = route!("/connectors/:id/disconnect");
    /// `POST` [`AppTokenRequest`](super::AppTokenRequest) with an API key: [`AppTokenResponse`](super::AppTokenResponse).
    pub const APP_TOKEN: Route = route!("/connectors/:id/app-token");
    /// `POST` [`BindRequest`](super::BindRequest): [`SessionInfo`](super::SessionInfo), binding the browser's session to the ticket's user.
    pub const SESSION_BIND: Route = route!("/session/bind");
    /// `POST {}`: [`Ended`](super::Ended), forgetting the browser's session.
    pub const SESSION_END: Route = route!("/session/end");
    /// `POST` [`UserTokenRequest`](super::UserTokenRequest) with an API key: [`UserTokenResponse`](super::UserTokenResponse).
    pub const USER_TOKEN: Route = route!("/users/:account/connectors/:id/token");
    /// `POST {}` with an API key: [`Disconnected`](super::Disconnected), for the user on every device.
    pub const USER_DISCONNECT: Route = route!("/users/:account/connectors/:id/disconnect");
    /// Every path, for `OPTIONS` (CORS preflights).
    pub const ANY: Route = route!("/*path");

    impl Route {
        /// The router's pattern, from the host's root.
        pub const fn pattern(self) -> &'static str {
            self.pattern
        }

        /// The route's URL below the API's `base` URL, for connector `id` where the path has one.
        /// Connector ids are `a-z`, `0-9` and `-`, which need no escaping.
        pub fn url(self, base: &str, id: &str) -> String {
            self.fill(base, &[("id", id)])
        }

        /// The URL of a `users` route for `account`'s connector `id`. An [`AccountId`](super::AccountId)
        /// needs no escaping in a path.
        pub fn user_url(self, base: &str, account: &super::AccountId, id: &str) -> String {
            self.fill(base, &[("account", account.as_str()), ("id", id)])
        }

        /// The path below `base` with each `:name` segment replaced by its value in `params`. By
        /// segment, not `replacen(":id", …)`: a substring search links std's Two-Way searcher into
        /// the browser module.
        fn fill(self, base: &str, params: &[(&str, &str)]) -> String {
            let mut url = String::from(base.trim_end_matches('/'));
            for segment in self.path.split('/').skip(1) {
                let param = segment.strip_prefix(':').and_then(|name| params.iter().find(|(key, _)| *key == name));
                url.push('/');
                url.push_str(param.map_or(segment, |(_, value)| value));
            }
            url
        }
    }
}
/// The header every state-changing request must carry (value [`CSRF_HEADER_VALUE`]); a
/// cross-site form cannot set it and a cross-site `fetch` with it needs a CORS preflight.
pub const CSRF_HEADER: &str = "x-mailconnect";
/// The value of [`CSRF_HEADER`].
pub const CSRF_HEADER_VALUE: &str = "1";
/// The session cookie: `__Host-` pins it to the edge's host, `Secure`, `Path=/`.
pub const SESSION_COOKIE: &str = "__Host-mailconnect-session";

/// The error code of a browser route when the edge binds sessions to the webmail's users
/// and this browser's session is not bound (never bound, ended, or bound to a ticket that no
/// longer verifies): present a fresh ticket to [`route::SESSION_BIND`], then try again.
pub const TICKET_REQUIRED: &str = "ticket_required";

/// `GET /oauth/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"`.
    pub status: String,
}

/// `GET /oauth/connectors/{id}`: the public half of a connector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// The connector id.
    pub id: String,
    /// The provider's authorization endpoint.
    pub authorize_url: String,
    /// The client (application) id.
    pub client_id: String,
    /// Space-separated scopes to request.
    pub scope: String,
    /// The redirect URIs the edge accepts for this connector; the first is the default.
    pub redirect_uris: Vec<String>,
    /// The `prompt` to send unless the caller chooses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The `domain_hint` to send, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_hint: Option<String>,
    /// The issuer to expect in a redirect's `iss` (RFC 9207), when known. It may hold
    /// [`TENANT_ID_PLACEHOLDER`](crate::TENANT_ID_PLACEHOLDER) for any tenant's directory ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Whether the provider puts `iss` in every redirect (its metadata's
    /// `authorization_response_iss_parameter_supported`): then a redirect without it is refused.
    /// Absent (older edges): false.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// Microsoft connectors of a tenant with admins (not `consumers`): the Entra admin-consent
    /// URL for this connector's client id and scopes, returning to its first redirect URI with
    /// `state` = [`ADMIN_CONSENT_STATE`]. For the "ask your admin" link of a `consent` error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent_url: Option<String>,
}

/// The `state` of every [`ConnectorInfo::admin_consent_url`]. The admin's redirect back only
/// reports the outcome (`admin_consent=True` or an error, and `tenant`) and redeems nothing, so it
/// needs no unguessable state; a fixed marker lets the callback page tell it from a sign-in.
pub const ADMIN_CONSENT_STATE: &str = "mailconnect-admin-consent";

/// `POST /oauth/connectors/{id}/token`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The authorization code from the redirect.
    pub code: AuthCode,
    /// The PKCE verifier whose challenge went into the authorize URL.
    #[serde(with = "verifier_serde")]
    pub code_verifier: PkceVerifier,
    /// The redirect URI used in the authorize request; must match one configured exactly.
    pub redirect_uri: String,
}

mod verifier_serde {
    use crate::pkce::PkceVerifier;
    use crate::prelude::String;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &PkceVerifier, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PkceVerifier, D::Error> {
        let s = String::deserialize(d)?;
        PkceVerifier::parse(&s).map_err(D::Error::custom)
    }
}

/// Who signed in, from the ID token (when the connector asks for `openid`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Display name (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Sign-in name (`preferred_username`, else `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Object id of the user (`oid`, else `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// Tenant id (`tid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

/// An access token for the browser. There is deliberately no refresh token field.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: AccessToken,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the token lives from now.
    pub expires_in: u64,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The scopes granted.
    pub scope: String,
    /// The signed-in account, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `POST /oauth/connectors/{id}/disconnect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    /// Always `"disconnected"`.
    pub status: String,
}

/// One connected connector of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The connector id.
    pub id: String,
    /// The signed-in account, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `GET /oauth/session`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The connectors this session has tokens for.
    pub connectors: Vec<Connection>,
}

/// `POST /oauth/connectors/{id}/app-token` (mail servers, with an API key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTokenRequest {
    /// The mailbox to build the XOAUTH2 strings for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// An app-only access token, with the SASL strings when a user was given.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppTokenResponse {
    /// The bearer token.
    pub access_token: AccessToken,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the token lives from now.
    pub expires_in: u64,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The scopes granted.
    pub scope: String,
    /// The IMAP/SMTP XOAUTH2 initial response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xoauth2: Option<String>,
    /// The POP3 two-line form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xoauth2_pop3: Option<String>,
}

/// A webmail account id, as the webmail names its signed-in user: the ticket's `sub` and the
/// `{account}` of the `users` routes. 1 to 128 of `A-Z a-z 0-9 . _ - @ +`, so that an e-mail
/// address fits and no form needs escaping in a URL path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// The longest account id.
    pub const MAX_LEN: usize = 128;

    /// `id`, if it is one.
    pub fn parse(id: &str) -> Option<Self> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b".-_@+".contains(&b);
        (!id.is_empty() && id.len() <= Self::MAX_LEN && id.bytes().all(allowed)).then(|| Self(String::from(id)))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom("an account id is 1 to 128 of A-Z a-z 0-9 . _ - @ +"))
    }
}

/// `POST /oauth/session/bind`: the webmail's ticket for its signed-in user.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    /// A compact JWS minted by the webmail's back end.
    pub ticket: Ticket,
}

/// `POST /oauth/session/end`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// Always `"ended"`.
    pub status: String,
}

/// `POST /oauth/users/{account}/connectors/{id}/token` (the webmail's back end, with an API key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTokenRequest {
    /// The mailbox to build the XOAUTH2 strings for; the connected account's sign-in name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
}

/// A user's delegated access token for the webmail's back end, with the SASL strings when a
/// mailbox is known.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserTokenResponse {
    /// The token, as the browser would get it.
    #[serde(flatten)]
    pub token: TokenResponse,
    /// The IMAP/SMTP XOAUTH2 initial response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xoauth2: Option<String>,
    /// The POP3 two-line form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xoauth2_pop3: Option<String>,
}

/// Every error the edge answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable snake_case code (an OAuth code for provider errors).
    pub error: String,
    /// What went wrong, for a person; never contains a secret.
    pub error_description: String,
    /// What to do.
    pub action: Action,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// Entra's AADSTS numbers, when the provider sent any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_codes: Option<Vec<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_rejects_unknown_fields_and_bad_verifiers() {
        let ok = r#"{"code":"c","code_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","redirect_uri":"https://a/cb"}"#;
        let req: TokenRequest = serde_json::from_str(ok).unwrap();
        assert_eq!(req.code.expose(), "c");
        assert!(serde_json::from_str::<TokenRequest>(r#"{"code":"c","code_verifier":"short","redirect_uri":"r"}"#).is_err());
        assert!(serde_json::from_str::<TokenRequest>(&ok.replace('}', r#","client_secret":"x"}"#)).is_err());
        assert_eq!(format!("{req:?}").matches("[redacted]").count(), 2);
    }

    #[test]
    fn token_response_wire_shape_is_exact() {
        let t = TokenResponse {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            expires_in: 3599,
            expires_at: 1_800_000_000,
            scope: "User.Read".into(),
            account: Some(Account { username: Some("ann@contoso.com".into()), ..Account::default() }),
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"access_token":"at","token_type":"Bearer","expires_in":3599,"expires_at":1800000000,"scope":"User.Read","account":{"username":"ann@contoso.com"}}"#
        );
    }

    #[test]
    fn connector_info_omits_an_absent_admin_consent_url_and_reads_without_it() {
        let info = ConnectorInfo {
            id: "zoom".into(),
            authorize_url: "https://zoom.us/oauth/authorize".into(),
            client_id: "c".into(),
            scope: "meeting:write".into(),
            redirect_uris: vec!["https://mail.example.com/cb".into()],
            prompt: None,
            domain_hint: None,
            issuer: None,
            authorization_response_iss_parameter_supported: false,
            admin_consent_url: None,
        };
        let json = r#"{"id":"zoom","authorize_url":"https://zoom.us/oauth/authorize","client_id":"c","scope":"meeting:write","redirect_uris":["https://mail.example.com/cb"]}"#;
        assert_eq!(serde_json::to_string(&info).unwrap(), json);
        assert_eq!(serde_json::from_str::<ConnectorInfo>(json).unwrap(), info);
        let with_url = ConnectorInfo { admin_consent_url: Some("https://login.microsoftonline.com/organizations/v2.0/adminconsent?x=1".into()), ..info };
        assert!(serde_json::to_string(&with_url)
            .unwrap()
            .ends_with(r#","admin_consent_url":"https://login.microsoftonline.com/organizations/v2.0/adminconsent?x=1"}"#));
    }

    #[test]
    fn connector_info_says_when_iss_is_always_sent_and_an_older_answer_reads_as_not() {
        let old = r#"{"id":"teams","authorize_url":"https://idp/authorize","client_id":"c","scope":"openid","redirect_uris":["https://mail.example.com/cb"],"issuer":"https://idp"}"#;
        let info: ConnectorInfo = serde_json::from_str(old).unwrap();
        assert!(!info.authorization_response_iss_parameter_supported);
        assert_eq!(serde_json::to_string(&info).unwrap(), old, "false is left out");
        let sends = ConnectorInfo { authorization_response_iss_parameter_supported: true, ..info };
        assert!(serde_json::to_string(&sends).unwrap().ends_with(r#","issuer":"https://idp","authorization_response_iss_parameter_supported":true}"#));
    }

    #[test]
    fn error_body_omits_absent_codes() {
        let e = ErrorBody { error: "invalid_origin".into(), error_description: "d".into(), action: Action::None, retryable: false, error_codes: None };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"error":"invalid_origin","error_description":"d","action":"none","retryable":false}"#);
    }

    #[test]
    fn routes_give_the_router_pattern_and_a_client_url_from_one_path() {
        assert_eq!(route::HEALTH.pattern(), "/oauth/health");
        assert_eq!(route::CONNECTOR.pattern(), "/oauth/connectors/:id");
        assert_eq!(route::APP_TOKEN.url("https://mail.example.com/oauth/", "smtp-relay"), "https://mail.example.com/oauth/connectors/smtp-relay/app-token");
        assert_eq!(route::SESSION.url("/oauth", "ignored"), "/oauth/session");
        assert_eq!(route::USER_TOKEN.pattern(), "/oauth/users/:account/connectors/:id/token");
        let ann = AccountId::parse("ann.lee+mail@contoso.com").unwrap();
        assert_eq!(
            route::USER_TOKEN.user_url("https://m.example/oauth", &ann, "teams"),
            "https://m.example/oauth/users/ann.lee+mail@contoso.com/connectors/teams/token"
        );
    }

    #[test]
    fn account_ids_are_path_safe_and_bounded() {
        for bad in ["", "a/b", "a b", "a%2Fb", "ä", "a?b", "a#b", "a:b"] {
            assert!(AccountId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(AccountId::parse(&"a".repeat(AccountId::MAX_LEN)).is_some());
        assert!(AccountId::parse(&"a".repeat(AccountId::MAX_LEN + 1)).is_none());
        assert!(serde_json::from_str::<AccountId>(r#""a/b""#).is_err());
        assert_eq!(serde_json::from_str::<AccountId>(r#""ada@example.com""#).unwrap().as_str(), "ada@example.com");
    }

    #[test]
    fn user_token_response_is_a_token_response_with_sasl_strings() {
        let json = r#"{"access_token":"at","token_type":"Bearer","expires_in":3599,"expires_at":1800000000,"scope":"IMAP.AccessAsUser.All","xoauth2":"eA=="}"#;
        let r: UserTokenResponse = serde_json::from_str(json).unwrap();
        assert_eq!(r.token.access_token.expose(), "at");
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
        assert!(serde_json::from_str::<BindRequest>(r#"{"ticket":"a.b.c","user":"x"}"#).is_err());
        assert_eq!(format!("{:?}", serde_json::from_str::<BindRequest>(r#"{"ticket":"a.b.c"}"#).unwrap()), "BindRequest { ticket: Ticket([redacted]) }");
    }
}
