//! The one error type of the Worker, and the one place where an error becomes a response.

use mailconnect_core::contract::{ErrorBody, TICKET_REQUIRED};
use mailconnect_core::ticket::TicketError;
use mailconnect_core::{Action, OAuthError, OAuthErrorCode};
use wasm_bindgen::{JsCast, JsValue};
use worker::{console_error, console_warn, Headers, Response};

/// Everything that can go wrong while answering a request.
///
/// Messages never hold a secret, a code, a verifier or a token: they are built from our own
/// text, setting names, and the provider's error code and description.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    /// No route has this path.
    #[error("no such endpoint")]
    NotFound,
    /// The path exists, but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The `Origin` header is missing (on a state-changing call) or not in `ALLOWED_ORIGINS`.
    #[error("the request's origin is not allowed")]
    Origin,
    /// The custom header that a cross-site form cannot send is missing.
    #[error("the x-mailconnect: 1 header is required")]
    CsrfHeader,
    /// The body is not `application/json`.
    #[error("the body must be application/json")]
    MediaType,
    /// The body is larger than the cap.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body does not have the contract's shape.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// The `redirect_uri` is not one of the connector's.
    #[error("the redirect_uri is not configured for this connector")]
    RedirectUri,
    /// No connector has this id.
    #[error("unknown connector")]
    UnknownConnector,
    /// The request carries no session cookie.
    #[error("there is no session: connect first")]
    NoSession,
    /// The session cookie names a session that ended (idle or absolute lifetime).
    #[error("the session expired: connect again")]
    SessionExpired,
    /// The session has no tokens for this connector.
    #[error("this connector is not connected in this session")]
    NotConnected,
    /// An app-token call without a valid API key: missing, unknown and wrong keys alike.
    #[error("a valid API key is required (Authorization: Bearer <key>)")]
    ApiKey,
    /// Too many calls with a bad API key from this client; it may try again after this many seconds.
    #[error("too many requests with a bad API key: try again in {retry_after} s")]
    TooManyFailures {
        /// Seconds until the client's window ends.
        retry_after: u64,
    },
    /// Too many failed code exchanges from this client, or for the connector as a whole; it may
    /// try again after this many seconds.
    #[error("too many failed sign-ins: try again in {retry_after} s")]
    TooManyExchanges {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// An app-token call for a connector that serves browsers.
    #[error("this connector does not issue app tokens (its grant is authorization_code)")]
    AppTokensNotEnabled,
    /// A setting is missing or malformed.
    #[error("setting {setting}: {problem}")]
    Config {
        /// The setting's name, e.g. `CONNECTORS.teams.tenant` or `TEAMS_CLIENT_SECRET`.
        setting: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The token endpoint could not be reached.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The token endpoint did not answer within `UPSTREAM_TIMEOUT_MS`.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The provider answered with a status and a body that is no OAuth error.
    #[error("the provider answered HTTP {0} without an OAuth error")]
    UpstreamStatus(u16),
    /// The provider's success response did not parse (only the failing path is kept: the body
    /// holds tokens).
    #[error("the provider's response is malformed: {0}")]
    UpstreamMalformed(String),
    /// The provider refused with an OAuth error.
    #[error("the provider refused (HTTP {status}): {}", .error.error.as_str())]
    Provider {
        /// The provider's HTTP status.
        status: u16,
        /// Its parsed error body.
        error: OAuthError,
    },
    /// User binding is on and this browser's session is not bound to a webmail user: it must
    /// present a fresh ticket to `POST /oauth/session/bind`.
    #[error("this browser's session is not bound to a webmail user: bind it with a fresh ticket")]
    TicketRequired,
    /// The ticket presented to bind a session is refused.
    #[error("{0}")]
    Ticket(TicketError),
    /// A `users` route for a connector without `backend_access = true`, or without user binding.
    #[error("the webmail's back end may not get this connector's user tokens (backend_access is off)")]
    BackendAccessNotEnabled,
    /// A runtime failure: storage, WebCrypto, a JS exception.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EdgeError {
    /// A stable snake_case code; for provider errors, the provider's OAuth code.
    pub fn code(&self) -> &str {
        match self {
            EdgeError::NotFound => "not_found",
            EdgeError::MethodNotAllowed => "method_not_allowed",
            EdgeError::Origin => "invalid_origin",
            EdgeError::CsrfHeader => "missing_csrf_header",
            EdgeError::MediaType => "unsupported_media_type",
            EdgeError::TooLarge(_) => "payload_too_large",
            EdgeError::BadRequest(_) => "invalid_request",
            EdgeError::RedirectUri => "invalid_redirect_uri",
            EdgeError::UnknownConnector => "unknown_connector",
            EdgeError::NoSession => "no_session",
            EdgeError::SessionExpired => "session_expired",
            EdgeError::NotConnected => "not_connected",
            EdgeError::ApiKey => "invalid_api_key",
            EdgeError::TooManyFailures { .. } | EdgeError::TooManyExchanges { .. } => "too_many_requests",
            EdgeError::AppTokensNotEnabled => "app_tokens_not_enabled",
            EdgeError::Config { .. } => "configuration_error",
            EdgeError::Unreachable(_) => "upstream_unreachable",
            EdgeError::Timeout => "upstream_timeout",
            EdgeError::UpstreamStatus(_) => "upstream_error",
            EdgeError::UpstreamMalformed(_) => "upstream_invalid_response",
            EdgeError::Provider { error, .. } => error.error.as_str(),
            EdgeError::Internal(_) => "internal_error",
            EdgeError::TicketRequired => TICKET_REQUIRED,
            EdgeError::Ticket(_) => "invalid_ticket",
            EdgeError::BackendAccessNotEnabled => "backend_access_not_enabled",
        }
    }

    /// What the user interface can do about it, from core's classification.
    pub fn action(&self) -> Action {
        match self {
            EdgeError::NotFound
            | EdgeError::MethodNotAllowed
            | EdgeError::Origin
            | EdgeError::CsrfHeader
            | EdgeError::MediaType
            | EdgeError::TooLarge(_)
            | EdgeError::BadRequest(_)
            | EdgeError::UnknownConnector => Action::None,
            EdgeError::RedirectUri | EdgeError::Config { .. } | EdgeError::ApiKey | EdgeError::AppTokensNotEnabled => Action::Configuration,
            EdgeError::TooManyFailures { .. } | EdgeError::TooManyExchanges { .. } => Action::Retry,
            EdgeError::NoSession | EdgeError::SessionExpired | EdgeError::NotConnected => Action::Reconnect,
            EdgeError::Unreachable(_) | EdgeError::Timeout | EdgeError::UpstreamStatus(_) | EdgeError::UpstreamMalformed(_) | EdgeError::Internal(_) => {
                Action::Retry
            }
            EdgeError::Provider { status, error } => error.action(Some(*status)),
            // The page gets a fresh ticket from the webmail (the browser module does it once).
            EdgeError::TicketRequired | EdgeError::Ticket(TicketError::Expired | TicketError::Replayed) => Action::Interaction,
            // Anything else is a back end minting tickets the edge's settings do not accept.
            EdgeError::Ticket(_) | EdgeError::BackendAccessNotEnabled => Action::Configuration,
        }
    }

    /// Whether the provider refused for good: an OAuth error that no retry of the same request
    /// can fix (a dead grant, a wrong secret or password), as opposed to throttling, outages and
    /// timeouts.
    pub(crate) fn is_definitive(&self) -> bool {
        matches!(self, EdgeError::Provider { status: 400..=499, .. }) && !matches!(self, EdgeError::Provider { status: 429, .. }) && !self.action().retryable()
    }

    /// Whether the provider declared the grant itself dead (RFC 6749 §5.2 `invalid_grant`:
    /// revoked, expired, or its user's password changed), for good: only a new sign-in helps.
    pub(crate) fn is_dead_grant(&self) -> bool {
        matches!(self, EdgeError::Provider { error, .. } if error.error == OAuthErrorCode::InvalidGrant) && self.is_definitive()
    }

    /// Our HTTP status. Upstream trouble is a 502/504 (or the provider's 429), never our 500.
    fn status(&self) -> u16 {
        match self {
            EdgeError::NotFound | EdgeError::UnknownConnector => 404,
            EdgeError::MethodNotAllowed => 405,
            EdgeError::Origin | EdgeError::CsrfHeader => 403,
            EdgeError::MediaType => 415,
            EdgeError::TooLarge(_) => 413,
            EdgeError::BadRequest(_) | EdgeError::RedirectUri | EdgeError::AppTokensNotEnabled => 400,
            EdgeError::ApiKey | EdgeError::TicketRequired | EdgeError::Ticket(_) => 401,
            EdgeError::BackendAccessNotEnabled => 403,
            EdgeError::TooManyFailures { .. } | EdgeError::TooManyExchanges { .. } => 429,
            EdgeError::NoSession | EdgeError::SessionExpired | EdgeError::NotConnected => 401,
            // The Worker cannot serve until an admin fixes it, and retrying will not help.
            EdgeError::Config { .. } => 503,
            EdgeError::Unreachable(_) | EdgeError::UpstreamMalformed(_) => 502,
            EdgeError::UpstreamStatus(429) => 429,
            EdgeError::UpstreamStatus(_) => 502,
            EdgeError::Timeout => 504,
            EdgeError::Provider { status, .. } => match (self.action(), status) {
                (_, 429) => 429,
                (Action::Retry, _) => 502,
                // The provider refused our client credentials: not the browser's fault.
                (_, 401 | 403) => 502,
                // It refused the request: its code, verifier, redirect URI or refresh token.
                (_, 400..=499) => 400,
                _ => 502,
            },
            EdgeError::Internal(_) => 503,
        }
    }

    /// What the person reads: our own sentence, or for a provider error core's hint for its
    /// AADSTS number, else the provider's own description.
    fn description(&self) -> String {
        match self {
            EdgeError::Provider { error, .. } => error
                .aadsts()
                .and_then(|a| a.hint())
                .map(str::to_owned)
                .or_else(|| error.description.clone())
                .unwrap_or_else(|| format!("The provider refused the request ({}).", error.error.as_str())),
            // Runtime details stay in the log.
            EdgeError::Unreachable(_) => "The provider could not be reached: try again.".into(),
            EdgeError::UpstreamMalformed(_) => "The provider's response could not be read: try again.".into(),
            EdgeError::Internal(_) => "A temporary failure at the edge: try again.".into(),
            other => other.to_string(),
        }
    }

    /// The response for this error: a fitting status and an [`ErrorBody`]. The details are
    /// logged here and never sent.
    pub fn into_response(self) -> Response {
        let headers = Headers::new();
        // Plain header names and values: setting them cannot fail.
        let _ = headers.set("content-type", "application/json");
        if let Some((name, value)) = self.header() {
            let _ = headers.set(name, &value);
        }
        let (status, json) = self.into_status_and_body();
        Response::builder().with_status(status).with_headers(headers).fixed(json.into_bytes())
    }

    /// The header this error's response needs besides the content type, if any.
    pub(crate) fn header(&self) -> Option<(&'static str, String)> {
        match self {
            // RFC 6750 §3: a 401 names the scheme it wants.
            EdgeError::ApiKey => Some(("www-authenticate", "Bearer realm=\"mailconnect\"".into())),
            EdgeError::TooManyFailures { retry_after } | EdgeError::TooManyExchanges { retry_after } => Some(("retry-after", retry_after.to_string())),
            _ => None,
        }
    }

    /// The status and the JSON [`ErrorBody`] of [`into_response`](Self::into_response), for a
    /// Durable Object's answer (with [`header`](Self::header)). The details are logged here and
    /// never sent.
    pub(crate) fn into_status_and_body(self) -> (u16, String) {
        let status = self.status();
        if status >= 500 {
            console_error!("mailconnect: {} ({status}): {self}", self.code());
        } else if status != 404 {
            console_warn!("mailconnect: {} ({status}): {self}", self.code());
        }
        let action = self.action();
        let body = ErrorBody {
            error: self.code().to_owned(),
            error_description: self.description(),
            action,
            retryable: action.retryable(),
            error_codes: match self {
                EdgeError::Provider { error, .. } if !error.codes.is_empty() => Some(error.codes),
                _ => None,
            },
        };
        // Plain strings and numbers always serialize, so this path cannot fail and never turns
        // into the runtime's own 500 page.
        (status, serde_json::to_string(&body).unwrap_or_default())
    }
}

/// The message of a JavaScript exception, for the log.
pub(crate) fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map_or_else(|| format!("{e:?}"), |e| String::from(e.message()))
}

impl From<worker::Error> for EdgeError {
    fn from(e: worker::Error) -> Self {
        EdgeError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(status: u16, code: &str, codes: Vec<u32>) -> EdgeError {
        let mut error = OAuthError::new(OAuthErrorCode::parse(code));
        error.codes = codes;
        EdgeError::Provider { status, error }
    }

    #[test]
    fn upstream_trouble_is_retryable_and_never_a_500() {
        for e in [EdgeError::Timeout, EdgeError::Unreachable("x".into()), EdgeError::UpstreamStatus(503), provider(503, "weird", vec![])] {
            assert!(e.action().retryable(), "{e}");
            assert!(matches!(e.status(), 502 | 504), "{e}");
        }
        assert_eq!(provider(429, "slow_down", vec![]).status(), 429);
    }

    #[test]
    fn provider_errors_are_classified_by_code_not_text() {
        let reused = provider(400, "invalid_grant", vec![54005]);
        assert_eq!((reused.status(), reused.action(), reused.code()), (400, Action::Reconnect, "invalid_grant"));
        let secret = provider(401, "invalid_client", vec![7000215]);
        assert_eq!((secret.status(), secret.action()), (502, Action::Configuration));
        let verifier = provider(400, "invalid_grant", vec![501481]);
        assert_eq!((verifier.status(), verifier.action()), (400, Action::Configuration));
        let throttled = provider(400, "invalid_request", vec![90055]);
        assert_eq!((throttled.status(), throttled.action()), (502, Action::Retry));
        assert!(secret.description().contains("client secret"));
    }

    #[test]
    fn only_provider_refusals_no_retry_can_fix_are_definitive() {
        let revoked = provider(400, "invalid_grant", vec![70008]);
        assert!(revoked.is_definitive() && revoked.is_dead_grant());
        let secret = provider(401, "invalid_client", vec![7000215]);
        assert!(secret.is_definitive() && !secret.is_dead_grant(), "a wrong client secret is the admin's, not the user's grant");
        for transient in
            [provider(503, "temporarily_unavailable", vec![]), provider(429, "invalid_grant", vec![]), EdgeError::Timeout, EdgeError::UpstreamStatus(500)]
        {
            assert!(!transient.is_definitive() && !transient.is_dead_grant(), "{transient}");
        }
    }

    #[test]
    fn runtime_details_are_not_described_to_the_client() {
        let e = EdgeError::Internal("storage exploded at key grant:teams".into());
        assert!(!e.description().contains("grant:teams"));
        let e = EdgeError::Unreachable("connect ECONNREFUSED 127.0.0.1:9".into());
        assert!(!e.description().contains("127.0.0.1"));
    }
}
