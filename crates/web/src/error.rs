//! [`WebError`], the one error type of this crate, and the single place where it becomes the
//! JavaScript class `MailconnectError`.

use js_sys::Array;
use mailconnect_core::contract::ErrorBody;
use mailconnect_core::{Aadsts, Action, CoreError};
use wasm_bindgen::prelude::*;

/// Everything that can go wrong in the browser module.
///
/// Each variant answers [`code`](WebError::code) (a stable snake_case string, the JS `code`) and
/// [`action`](WebError::action); its `Display` is the message a person reads, so it says what to
/// do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The edge answered with its error contract.
    #[error("{}", if .0.error_description.is_empty() { .0.error.as_str() } else { .0.error_description.as_str() })]
    Edge(ErrorBody),
    /// `fetch` failed: offline, DNS, TLS, CORS, or nothing listening.
    #[error("could not reach the mailconnect edge at {0}: check the network connection and the edge URL")]
    Network(String),
    /// The edge answered, but not with the contract (a proxy error page, or the wrong URL).
    #[error("{url} answered HTTP {status} without the mailconnect contract: check that the edge URL points at the edge's /oauth prefix")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// A check of the core crate failed (state, issuer, provider error, return target).
    #[error("{}", core_message(.0))]
    Core(#[from] CoreError),
    /// `window.open` returned nothing: a popup blocker stepped in.
    #[error("the browser blocked the sign-in window: allow pop-ups for this site, or connect with mode \"redirect\"")]
    PopupBlocked,
    /// The user closed the sign-in window, or a newer `connect()` replaced it.
    #[error("the sign-in window was closed before sign-in finished: connect again")]
    PopupClosed,
    /// Sign-in did not come back in time.
    #[error("sign-in did not finish within {0} seconds: connect again")]
    Timeout(u32),
    /// Another tab has a sign-in window open for the same connector.
    #[error("another tab is already signing in to {0}: finish or close that sign-in window, then try again")]
    InteractionInProgress(String),
    /// Options passed from JavaScript or received from the edge make no sense.
    #[error("{0}")]
    Configuration(String),
    /// A callback page whose address carries no authorization response.
    #[error("this page's address carries no sign-in response; open it only as the OAuth redirect URI")]
    NotACallback,
    /// A sign-in response that no pending `connect()` in this browser is waiting for.
    #[error("no sign-in is waiting for this response (the page that started it was closed or reloaded, or it expired): close this window and connect again")]
    UnknownState,
    /// A browser API this module needs is missing or refused (storage disabled, no crypto).
    #[error("the browser refused {0}: mailconnect needs it (check privacy settings and that the page is served over https or from localhost)")]
    Browser(&'static str),
}

impl WebError {
    /// The stable snake_case code.
    pub fn code(&self) -> &str {
        match self {
            WebError::Edge(body) => &body.error,
            WebError::Network(_) => "network_error",
            WebError::BadResponse { .. } => "bad_response",
            WebError::Core(e) => e.code(),
            WebError::PopupBlocked => "popup_blocked",
            WebError::PopupClosed => "popup_closed",
            WebError::Timeout(_) => "timeout",
            WebError::InteractionInProgress(_) => "interaction_in_progress",
            WebError::Configuration(_) => "configuration_error",
            WebError::NotACallback => "not_a_callback",
            WebError::UnknownState => "unknown_state",
            WebError::Browser(_) => "browser_unsupported",
        }
    }

    /// What the user (or an admin) can do about it.
    pub fn action(&self) -> Action {
        match self {
            WebError::Edge(body) => body.action,
            WebError::Network(_) | WebError::InteractionInProgress(_) => Action::Retry,
            WebError::BadResponse { status, .. } if *status >= 500 => Action::Retry,
            WebError::BadResponse { .. } | WebError::Configuration(_) => Action::Configuration,
            WebError::Core(e) => e.action(),
            WebError::PopupBlocked | WebError::PopupClosed | WebError::Timeout(_) => Action::Interaction,
            WebError::UnknownState => Action::Reconnect,
            WebError::NotACallback | WebError::Browser(_) => Action::None,
        }
    }

    /// Whether the same call may succeed later; the edge's own judgement when it sent one.
    pub fn retryable(&self) -> bool {
        match self {
            WebError::Edge(body) => body.retryable,
            other => other.action().retryable(),
        }
    }

    /// Entra's AADSTS numbers, when the edge or the redirect carried any.
    fn error_codes(&self) -> Option<&[u32]> {
        match self {
            WebError::Edge(ErrorBody { error_codes: Some(codes), .. }) => Some(codes),
            WebError::Core(CoreError::OAuth(e)) if !e.codes.is_empty() => Some(&e.codes),
            _ => None,
        }
    }
}

/// Words for the core errors a browser meets. Not core's `Display`: its `{:?}` quoting would
/// link Debug escaping into the module for errors (tenants, scopes, URLs) only the edge sees.
fn core_message(e: &CoreError) -> &str {
    match e {
        CoreError::StateMismatch => "the sign-in response does not belong to a sign-in of this page (state mismatch): connect again",
        CoreError::IssuerMismatch { .. } => "the sign-in response came from an unexpected identity provider (issuer mismatch): connect again",
        CoreError::MissingCode => "the sign-in response carries no authorization code: connect again",
        CoreError::InvalidVerifier => "the stored sign-in request is damaged: connect again",
        CoreError::InvalidReturnTo => "returnTo must be a path on this site, starting with a single /",
        // The AADSTS hint says what to do; Entra's description says what happened.
        CoreError::OAuth(oauth) => oauth.aadsts().and_then(Aadsts::hint).or(oauth.description.as_deref()).unwrap_or_else(|| oauth.error.as_str()),
        other => other.code(),
    }
}

#[wasm_bindgen(inline_js = r#"
export class MailconnectError extends Error {
  constructor(message, code, action, retryable, errorCodes) {
    super(message);
    this.name = "MailconnectError";
    this.code = code;
    this.action = action;
    this.retryable = retryable;
    if (errorCodes) this.errorCodes = errorCodes;
  }
}
"#)]
extern "C" {
    /// A real `Error` subclass (stack, `instanceof Error`), defined in JS because a Rust export
    /// cannot extend a JS class.
    #[wasm_bindgen(extends = js_sys::Error)]
    type MailconnectError;

    #[wasm_bindgen(constructor)]
    fn new(message: &str, code: &str, action: &str, retryable: bool, error_codes: Option<Array>) -> MailconnectError;

    /// The same class, re-exported by `mailconnect.js` for `instanceof`. Imported as a function
    /// because only functions can skip wasm-bindgen's TypeScript (`let MailconnectError:
    /// unknown`), which would clash with the class that lib.rs's TypeScript section declares.
    #[wasm_bindgen(js_name = MailconnectError, reexport, skip_typescript)]
    fn error_class();
}

impl From<WebError> for JsValue {
    fn from(err: WebError) -> JsValue {
        let codes = err.error_codes().map(|codes| codes.iter().map(|&c| JsValue::from(c)).collect::<Array>());
        MailconnectError::new(&err.to_string(), err.code(), err.action().as_str(), err.retryable(), codes).into()
    }
}
