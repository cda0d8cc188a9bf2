//! OAuth errors (RFC 6749 §4.1.2.1 and §5.2), Entra's AADSTS codes, and the [`Action`] a user
//! interface can take for each. Classification looks at codes only, never at description text.

use crate::encoding::parse_decimal;
use crate::prelude::*;
use serde::{Deserialize, Serialize};

/// What the person in front of the webmail (or its admin) can do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The grant is gone (expired, revoked, password changed): connect again.
    Reconnect,
    /// Permissions are missing: the user, or an admin, must grant consent.
    Consent,
    /// The user must sign in interactively (MFA, Conditional Access, no session).
    Interaction,
    /// The app registration or the connector settings are wrong: an admin must fix them.
    Configuration,
    /// A transient failure: try again later.
    Retry,
    /// Nothing can help (a bug, or a request that is wrong in itself).
    None,
}

impl Action {
    /// Whether trying the same request again may succeed.
    pub fn retryable(self) -> bool {
        self == Action::Retry
    }

    /// The stable snake_case name, as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reconnect => "reconnect",
            Action::Consent => "consent",
            Action::Interaction => "interaction",
            Action::Configuration => "configuration",
            Action::Retry => "retry",
            Action::None => "none",
        }
    }
}

macro_rules! oauth_codes {
    ($($variant:ident = $code:literal => $action:ident),* $(,)?) => {
        /// An OAuth `error` code; unknown codes are kept in `Extension`.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum OAuthErrorCode {
            $(#[doc = concat!("`", $code, "`")] $variant,)*
            /// A code this crate does not know.
            Extension(String),
        }

        impl OAuthErrorCode {
            /// Parses a code; never fails.
            pub fn parse(code: &str) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Extension(other.to_owned()),
                }
            }

            /// The code as sent on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Extension(other) => other,
                }
            }

            /// The action for this code alone.
            pub fn action(&self) -> Action {
                match self {
                    $(Self::$variant => Action::$action,)*
                    Self::Extension(_) => Action::None,
                }
            }
        }
    };
}

oauth_codes! {
    InvalidRequest = "invalid_request" => Configuration,
    InvalidClient = "invalid_client" => Configuration,
    InvalidGrant = "invalid_grant" => Reconnect,
    UnauthorizedClient = "unauthorized_client" => Configuration,
    UnsupportedGrantType = "unsupported_grant_type" => Configuration,
    UnsupportedResponseType = "unsupported_response_type" => Configuration,
    InvalidScope = "invalid_scope" => Configuration,
    AccessDenied = "access_denied" => Consent,
    ConsentRequired = "consent_required" => Consent,
    InteractionRequired = "interaction_required" => Interaction,
    LoginRequired = "login_required" => Interaction,
    AccountSelectionRequired = "account_selection_required" => Interaction,
    ServerError = "server_error" => Retry,
    TemporarilyUnavailable = "temporarily_unavailable" => Retry,
    SlowDown = "slow_down" => Retry,
}

macro_rules! aadsts {
    ($($variant:ident = $code:literal => $action:ident, $hint:literal;)*) => {
        /// An Entra ID error number (`AADSTS<n>`). Unknown numbers are kept in `Other`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Aadsts {
            $(#[doc = concat!("AADSTS", stringify!($code), ": ", $hint)] $variant,)*
            /// A number this crate does not classify.
            Other(u32),
        }

        impl Aadsts {
            /// Every named code, for documentation tables and tests.
            pub const KNOWN: &'static [Aadsts] = &[$(Aadsts::$variant),*];

            /// Maps a number to its variant.
            pub fn from_code(code: u32) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Other(other),
                }
            }

            /// The number.
            pub fn code(self) -> u32 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(code) => code,
                }
            }

            /// What the UI can do; `None` for unknown numbers, so the OAuth code decides.
            pub fn action(self) -> Option<Action> {
                match self {
                    $(Self::$variant => Some(Action::$action),)*
                    Self::Other(_) => None,
                }
            }

            /// What the admin or user should do, in a sentence.
            pub fn hint(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some($hint),)*
                    Self::Other(_) => None,
                }
            }
        }
    };
}

aadsts! {
    // Reconnect: the grant is gone.
    CodeOrTokenExpired = 70008 => Reconnect, "The code or refresh token expired or was revoked: connect again.";
    RefreshTokenInactive = 700082 => Reconnect, "The refresh token expired after 90 days without use: connect again.";
    RefreshTokenMaxAge = 700081 => Reconnect, "The refresh token reached its maximum age: connect again.";
    SpaRefreshTokenExpired = 700084 => Reconnect, "A single-page-app refresh token lives 24 hours: connect again (and use a Web platform redirect URI).";
    FreshAuthRequired = 50173 => Reconnect, "The grant was revoked (password changed or sessions revoked): connect again.";
    CodeAlreadyRedeemed = 54005 => Reconnect, "The authorization code was already used: connect again.";
    InvalidGrant = 70000 => Reconnect, "The grant is invalid or was issued for another client: connect again.";
    SignInFrequency = 70043 => Reconnect, "Conditional Access sign-in frequency ended the session: connect again.";
    PasswordExpired = 50055 => Reconnect, "The user's password expired: change it, then connect again.";
    // Consent: permissions are missing.
    ConsentRequired = 65001 => Consent, "Consent for the requested permissions is missing: the user or an admin must grant it.";
    ConsentDeclined = 65004 => Consent, "The user declined consent: connect again and accept, or ask an admin to grant consent.";
    AdminConsentRequired = 90094 => Consent, "Only an admin can grant these permissions: ask an admin to grant tenant-wide consent.";
    AdminConsentPolicy = 90095 => Consent, "The tenant requires admin approval for this app: ask an admin to grant consent.";
    // Interaction: the user must sign in.
    MfaRequired = 50076 => Interaction, "Multi-factor authentication is required: connect again interactively.";
    MfaEnrollmentRequired = 50079 => Interaction, "The user must register for multi-factor authentication: connect again interactively.";
    StrongAuthRequired = 50074 => Interaction, "Strong authentication is required: connect again interactively.";
    BlockedByConditionalAccess = 53003 => Interaction, "Conditional Access blocked the sign-in: check the policy with your admin.";
    DeviceNotCompliant = 53000 => Interaction, "Conditional Access requires a compliant device.";
    NoSession = 50058 => Interaction, "No signed-in session was found: sign in interactively.";
    // Configuration: the registration or the connector settings are wrong.
    RedirectUriMismatch = 50011 => Configuration, "The redirect URI is not registered: add the callback URL under Authentication > Web in Entra ID.";
    NotMultiTenant = 50194 => Configuration, "The app is single-tenant: set the connector's tenant to your tenant ID or domain, or make the app multi-tenant.";
    PersonalAccountsNotAllowed = 9002332 => Configuration, "The app does not accept personal Microsoft accounts: change its supported account types or the tenant.";
    AppNotFound = 700016 => Configuration, "The client ID is unknown in this tenant: check the client ID and the tenant, or get admin consent.";
    CredentialMissing = 7000218 => Configuration, "A client secret or certificate is required: set CLIENT_SECRET or the certificate for the connector.";
    PublicClientCredential = 700025 => Configuration, "The app is a public client: register the redirect URI under the Web platform, not Mobile/desktop or SPA.";
    InvalidClientSecret = 7000215 => Configuration, "The client secret is wrong: copy the secret's Value (not its ID) into the Worker secret.";
    ClientSecretExpired = 7000222 => Configuration, "The client secret expired: create a new one and update the Worker secret.";
    AssertionSignatureInvalid = 700027 => Configuration, "The certificate assertion was rejected: upload the certificate to the app and check the thumbprint.";
    CrossOriginRedemption = 9002326 => Configuration, "The token request carried an Origin header, which Entra allows only for SPA redirect URIs: redeem codes at the edge (it sends none) with the callback registered under Web.";
    SpaOnlyRedemption = 9002327 => Configuration, "The redirect URI is registered as a single-page application: register the callback under the Web platform instead.";
    CodeVerifierMismatch = 501481 => Configuration, "The PKCE code verifier does not match the challenge.";
    InvalidScope = 70011 => Configuration, "A requested scope is invalid: check the connector's scopes.";
    MultipleResources = 28000 => Configuration, "Scopes of more than one resource were requested: use one resource per connector.";
    TenantNotFound = 90002 => Configuration, "The tenant does not exist: check the tenant ID or domain.";
    InvalidCredentials = 50126 => Configuration, "The service mailbox's user name or password is wrong.";
    ClientAssertionExpired = 700024 => Configuration, "The client assertion is outside its validity window: check the edge's clock.";
    AppDisabled = 7000112 => Configuration, "The application is disabled in the tenant.";
    MissingParameter = 900144 => Configuration, "The request lacks a required parameter.";
    UserNotInTenant = 50020 => Configuration, "The account is not in the app's tenant: use a matching tenant type or invite the user.";
    // Retry: transient.
    Throttled = 90055 => Retry, "Too many requests: try again shortly.";
    LoopDetected = 50196 => Retry, "Too many sign-in requests in a short time: wait and try again.";
    ServiceUnavailable = 90033 => Retry, "Entra ID is temporarily unavailable: try again.";
}

/// An OAuth error from a token response body or an authorization redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code.
    pub error: OAuthErrorCode,
    /// Human-readable text; shown, never branched on.
    pub description: Option<String>,
    /// `error_uri`, if any.
    pub uri: Option<String>,
    /// Entra's `error_codes` (AADSTS numbers); in a redirect, the number prefixing the description.
    pub codes: Vec<u32>,
}

impl OAuthError {
    /// An error with only a code.
    pub fn new(error: OAuthErrorCode) -> Self {
        OAuthError { error, description: None, uri: None, codes: Vec::new() }
    }

    /// Builds an error from a redirect's parameters. Entra sends no `error_codes` there, only
    /// an `AADSTS<n>:` token leading the description, which is read as the code it is.
    pub fn from_redirect(error: &str, description: Option<String>, uri: Option<String>) -> Self {
        let codes = description.as_deref().and_then(leading_aadsts).into_iter().collect();
        OAuthError { error: OAuthErrorCode::parse(error), description, uri, codes }
    }

    /// Parses a token endpoint error body (RFC 6749 §5.2, with Entra's `error_codes`).
    #[cfg(feature = "edge")]
    pub fn from_json(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Wire {
            error: String,
            error_description: Option<String>,
            error_uri: Option<String>,
            #[serde(default)]
            error_codes: Vec<u32>,
        }
        let wire: Wire = serde_json::from_slice(body).ok()?;
        let mut err =
            OAuthError { error: OAuthErrorCode::parse(&wire.error), description: wire.error_description, uri: wire.error_uri, codes: wire.error_codes };
        if err.codes.is_empty() {
            err.codes.extend(err.description.as_deref().and_then(leading_aadsts));
        }
        Some(err)
    }

    /// The first AADSTS number this crate classifies, else the first number at all.
    pub fn aadsts(&self) -> Option<Aadsts> {
        let all = self.codes.iter().map(|&c| Aadsts::from_code(c));
        all.clone().find(|c| c.action().is_some()).or_else(|| all.clone().next())
    }

    /// What to do: a classified AADSTS number wins, then the OAuth code, then the HTTP status.
    pub fn action(&self, http_status: Option<u16>) -> Action {
        if let Some(action) = self.aadsts().and_then(Aadsts::action) {
            return action;
        }
        match (self.error.action(), http_status) {
            (Action::None, Some(500..=599)) => Action::Retry,
            (action, _) => action,
        }
    }
}

fn leading_aadsts(description: &str) -> Option<u32> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    // `get`, not indexing: the same slice, without a panic path (whose message formatting would
    // cost the browser module ~5 KB).
    parse_decimal(rest.get(..digits)?).and_then(|n| u32::try_from(n).ok())
}

/// Errors of the core crate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A tenant that is neither a known alias, a GUID nor a domain name.
    #[error("invalid tenant {0:?}: use common, organizations, consumers, a tenant ID (GUID) or a verified domain")]
    InvalidTenant(String),
    /// A URL that is not `https://`, or `http://` on a loopback host.
    #[error("invalid URL {0:?}: use https:// (http:// only for localhost, 127.0.0.1 or [::1]), without query or fragment")]
    InvalidUrl(String),
    /// A scope that breaks RFC 6749 §3.3 syntax.
    #[error("invalid scope {0:?}")]
    InvalidScope(String),
    /// `.default` requested together with other scopes of the same resource.
    #[error("the scope {0}/.default cannot be combined with other scopes of the same resource")]
    DefaultScopeMixed(String),
    /// Scopes of more than one resource in one request.
    #[error("scopes of more than one resource ({0} and {1}) cannot be requested together")]
    MultipleResources(String, String),
    /// A PKCE code verifier that is not 43–128 unreserved characters.
    #[error("the PKCE code verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    InvalidVerifier,
    /// A redirect that carries neither a code nor an error.
    #[error("the redirect carries neither a code nor an error")]
    MissingCode,
    /// The redirect's `state` is missing or belongs to no request of ours.
    #[error("the redirect's state does not match the request")]
    StateMismatch,
    /// The redirect's `iss` names another issuer (RFC 9207: a mix-up attack).
    #[error("the redirect's issuer {got:?} is not the expected {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the redirect said.
        got: String,
    },
    /// The provider puts `iss` in every redirect, and this one has none (RFC 9207 §2.4).
    #[error("the redirect carries no issuer (iss), which this provider always sends")]
    MissingIssuer,
    /// The redirect arrived at another redirect URI than its request named (RFC 9700 §4.4.2: a
    /// mix-up attack).
    #[error("the redirect arrived at {got:?}, not at its request's redirect URI {expected:?}")]
    RedirectUriMismatch {
        /// The request's redirect URI.
        expected: String,
        /// Where the redirect arrived.
        got: String,
    },
    /// The provider answered with an OAuth error.
    #[error("{}{}", .0.error.as_str(), .0.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth(OAuthError),
    /// A user name or token with control characters, which would break the SASL string.
    #[error("the user name and token for XOAUTH2 must not contain control characters")]
    InvalidXoauth2Input,
    /// A return-to target that is not a same-origin path.
    #[error("the return target must be a path on this site (starting with a single /)")]
    InvalidReturnTo,
    /// A message link that does not follow either supported form.
    #[error("not a message link")]
    InvalidMessageLink,
}

impl CoreError {
    /// A stable snake_case code.
    pub fn code(&self) -> &str {
        match self {
            CoreError::InvalidTenant(_) => "invalid_tenant",
            CoreError::InvalidUrl(_) => "invalid_url",
            CoreError::InvalidScope(_) => "invalid_scope",
            CoreError::DefaultScopeMixed(_) => "default_scope_mixed",
            CoreError::MultipleResources(..) => "multiple_resources",
            CoreError::InvalidVerifier => "invalid_verifier",
            CoreError::MissingCode => "missing_code",
            CoreError::StateMismatch => "state_mismatch",
            CoreError::IssuerMismatch { .. } => "issuer_mismatch",
            CoreError::MissingIssuer => "missing_issuer",
            CoreError::RedirectUriMismatch { .. } => "redirect_uri_mismatch",
            CoreError::OAuth(e) => e.error.as_str(),
            CoreError::InvalidXoauth2Input => "invalid_xoauth2_input",
            CoreError::InvalidReturnTo => "invalid_return_to",
            CoreError::InvalidMessageLink => "invalid_message_link",
        }
    }

    /// What to do about it.
    pub fn action(&self) -> Action {
        match self {
            CoreError::InvalidTenant(_)
            | CoreError::InvalidUrl(_)
            | CoreError::InvalidScope(_)
            | CoreError::DefaultScopeMixed(_)
            | CoreError::MultipleResources(..) => Action::Configuration,
            CoreError::StateMismatch
            | CoreError::IssuerMismatch { .. }
            | CoreError::MissingIssuer
            | CoreError::RedirectUriMismatch { .. }
            | CoreError::MissingCode => Action::Reconnect,
            CoreError::OAuth(e) => e.action(None),
            CoreError::InvalidVerifier | CoreError::InvalidXoauth2Input | CoreError::InvalidReturnTo | CoreError::InvalidMessageLink => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action_of(code: u32) -> Action {
        Aadsts::from_code(code).action().unwrap()
    }

    #[test]
    fn aadsts_classification_table_matches_the_issue() {
        for c in [70008, 700082, 700081, 700084, 50173, 54005] {
            assert_eq!(action_of(c), Action::Reconnect, "{c}");
        }
        for c in [65001, 65004, 90094] {
            assert_eq!(action_of(c), Action::Consent, "{c}");
        }
        for c in [50076, 50079, 53003, 50058] {
            assert_eq!(action_of(c), Action::Interaction, "{c}");
        }
        for c in [50011, 50194, 9002332, 700016, 7000218, 700025, 7000215, 7000222, 700027, 9002326, 9002327, 501481] {
            assert_eq!(action_of(c), Action::Configuration, "{c}");
        }
        for c in [90055, 50196] {
            assert_eq!(action_of(c), Action::Retry, "{c}");
        }
    }

    #[test]
    fn every_known_aadsts_round_trips_and_has_a_hint() {
        for &a in Aadsts::KNOWN {
            assert_eq!(Aadsts::from_code(a.code()), a);
            assert!(a.hint().unwrap().ends_with('.'));
        }
        assert_eq!(Aadsts::from_code(12345), Aadsts::Other(12345));
        assert_eq!(Aadsts::Other(12345).action(), None);
    }

    #[test]
    fn oauth_codes_classify_and_unknown_codes_are_kept() {
        assert_eq!(OAuthErrorCode::parse("invalid_grant").action(), Action::Reconnect);
        assert_eq!(OAuthErrorCode::parse("temporarily_unavailable").action(), Action::Retry);
        assert_eq!(OAuthErrorCode::parse("access_denied").action(), Action::Consent);
        let odd = OAuthErrorCode::parse("made_up");
        assert_eq!(odd, OAuthErrorCode::Extension("made_up".into()));
        assert_eq!(odd.as_str(), "made_up");
        assert_eq!(odd.action(), Action::None);
    }

    #[test]
    fn aadsts_number_wins_over_the_oauth_code() {
        // Entra reports a wrong secret as invalid_client + 7000215 and MFA as invalid_grant + 50076.
        let mut e = OAuthError::new(OAuthErrorCode::InvalidGrant);
        e.codes = vec![50076];
        assert_eq!(e.action(None), Action::Interaction);
        e.codes = vec![99999999, 65001];
        assert_eq!(e.aadsts(), Some(Aadsts::ConsentRequired));
        assert_eq!(e.action(None), Action::Consent);
    }

    #[test]
    fn unknown_errors_with_5xx_status_are_retryable() {
        let e = OAuthError::new(OAuthErrorCode::parse("weird"));
        assert_eq!(e.action(Some(503)), Action::Retry);
        assert_eq!(e.action(Some(400)), Action::None);
        assert!(Action::Retry.retryable());
    }

    #[test]
    fn redirect_error_reads_the_aadsts_number_not_the_prose() {
        let e = OAuthError::from_redirect("access_denied", Some("AADSTS65004: User declined to consent to access the app.".into()), None);
        assert_eq!(e.codes, vec![65004]);
        assert_eq!(e.action(None), Action::Consent);
        let e = OAuthError::from_redirect("invalid_request", Some("The redirect URI does not match (AADSTS50011)".into()), None);
        assert!(e.codes.is_empty());
    }

    #[cfg(feature = "edge")]
    #[test]
    fn token_error_body_parses_entra_error_codes() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"timestamp":"2026-01-01 00:00:00Z","trace_id":"x","correlation_id":"y"}"#;
        let e = OAuthError::from_json(body).unwrap();
        assert_eq!(e.error, OAuthErrorCode::InvalidClient);
        assert_eq!(e.aadsts(), Some(Aadsts::InvalidClientSecret));
        assert_eq!(e.action(Some(401)), Action::Configuration);
        assert!(OAuthError::from_json(b"<html>").is_none());
    }

    #[test]
    fn action_serializes_as_snake_case() {
        assert_eq!(serde_json::to_string(&Action::Configuration).unwrap(), "\"configuration\"");
        assert_eq!(Action::Interaction.as_str(), "interaction");
    }
}
