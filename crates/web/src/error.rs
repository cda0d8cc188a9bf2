//! Every rejection of the module: a `MailconnectError` (js/error.js) with `code`, `action` and
//! `retryable`, from this module's own [`Code`]s, from core's errors, or from the edge's
//! `ErrorBody`. Messages are static words plus, where it helps, the value at fault (concatenated:
//! `format!` would link Rust's formatting machinery into the wasm).

use crate::prelude::*;
use mailconnect_core::contract::ErrorBody;
pub(crate) use mailconnect_core::encoding::decimal;
use mailconnect_core::{Aadsts, Action, CoreError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/error.js")]
extern "C" {
    /// A new `MailconnectError`.
    #[wasm_bindgen(js_name = fail)]
    fn make(message: &str, code: &str, action: &str, retryable: bool, error_codes: Option<Box<[u32]>>) -> JsValue;

    // Re-exported by `mailconnect.js`. Imported as a function because only functions can skip
    // wasm-bindgen's TypeScript (a type would be declared `let X: unknown`, clashing with the
    // class of the TypeScript section in lib.rs).
    #[wasm_bindgen(js_name = MailconnectError, reexport, skip_typescript)]
    fn error_class();
}

/// What the module's functions return: a `MailconnectError` on the error side.
pub(crate) type Result<T> = core::result::Result<T, JsValue>;

/// The module's own error codes (README's table; the edge's and core's come with their own).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Code {
    NetworkError,
    InteractionInProgress,
    PopupBlocked,
    PopupClosed,
    Timeout,
    ConfigurationError,
    UnknownState,
    PendingMismatch,
    NotACallback,
    BrowserUnsupported,
    InvalidMailto,
    TicketUnavailable,
    SessionChanged,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::NetworkError => "network_error",
            Code::InteractionInProgress => "interaction_in_progress",
            Code::PopupBlocked => "popup_blocked",
            Code::PopupClosed => "popup_closed",
            Code::Timeout => "timeout",
            Code::ConfigurationError => "configuration_error",
            Code::UnknownState => "unknown_state",
            Code::PendingMismatch => "pending_mismatch",
            Code::NotACallback => "not_a_callback",
            Code::BrowserUnsupported => "browser_unsupported",
            Code::InvalidMailto => "invalid_mailto",
            Code::TicketUnavailable => "ticket_unavailable",
            Code::SessionChanged => "session_changed",
        }
    }

    fn action(self) -> Action {
        match self {
            Code::NetworkError | Code::InteractionInProgress | Code::SessionChanged => Action::Retry,
            Code::PopupBlocked | Code::PopupClosed | Code::Timeout | Code::TicketUnavailable => Action::Interaction,
            Code::ConfigurationError => Action::Configuration,
            Code::UnknownState | Code::PendingMismatch => Action::Reconnect,
            Code::NotACallback | Code::BrowserUnsupported | Code::InvalidMailto => Action::None,
        }
    }
}

fn error(message: &str, code: &str, action: Action, error_codes: Option<Box<[u32]>>) -> JsValue {
    make(message, code, action.as_str(), action.retryable(), error_codes)
}

/// One of the module's own errors; `message` says what to do.
pub(crate) fn fail(code: Code, message: &str) -> JsValue {
    error(message, code.as_str(), code.action(), None)
}

/// `configuration_error`.
pub(crate) fn misconfigured(message: &str) -> JsValue {
    fail(Code::ConfigurationError, message)
}

/// `browser_unsupported`: the browser refused `api` (privacy settings, or no secure context).
pub(crate) fn refused(api: &str) -> JsValue {
    fail(
        Code::BrowserUnsupported,
        &concat(&["the browser refused ", api, ": mailconnect needs it (check privacy settings and that the page is served over https or from localhost)"]),
    )
}

/// `bad_response`: an answer outside the contract (retry on 5xx, else the URL is wrong).
pub(crate) fn bad_response(url: &str, status: u16) -> JsValue {
    let message = concat(&[
        url,
        " answered HTTP ",
        &decimal(status.into()),
        " without the mailconnect contract: check that the edge URL points at the edge's /oauth prefix",
    ]);
    error(&message, "bad_response", if status >= 500 { Action::Retry } else { Action::Configuration }, None)
}

/// The edge's own error, as it sent it.
pub(crate) fn edge_error(body: ErrorBody) -> JsValue {
    let message = if body.error_description.is_empty() { &body.error } else { &body.error_description };
    make(message, &body.error, body.action.as_str(), body.retryable, body.error_codes.map(Vec::into_boxed_slice))
}

/// A core error (state and issuer checks, the provider's refusal, `returnTo`, message links).
pub(crate) fn core_error(e: &CoreError) -> JsValue {
    let codes = match e {
        CoreError::OAuth(oauth) if !oauth.codes.is_empty() => Some(oauth.codes.clone().into_boxed_slice()),
        _ => None,
    };
    error(core_message(e), e.code(), e.action(), codes)
}

/// Words for the core errors a browser meets. Not core's `Display`: its `{:?}` quoting would
/// link Debug escaping into the module for errors (tenants, scopes, URLs) only the edge sees.
fn core_message(e: &CoreError) -> &str {
    match e {
        CoreError::StateMismatch => "the sign-in response does not belong to a sign-in of this page (state mismatch): connect again",
        CoreError::IssuerMismatch { .. } => "the sign-in response came from an unexpected identity provider (issuer mismatch): connect again",
        CoreError::MissingIssuer => "the sign-in response lacks the issuer (iss) its provider always sends: connect again",
        CoreError::RedirectUriMismatch { .. } => "the sign-in response arrived at another redirect URI than its sign-in's: connect again",
        CoreError::MissingCode => "the sign-in response carries no authorization code: connect again",
        CoreError::InvalidVerifier => "the stored sign-in request is damaged: connect again",
        CoreError::InvalidReturnTo => "returnTo must be a path on this site, starting with a single /",
        CoreError::InvalidMessageLink => "this link does not open a message of this webmail: ask the sender for a new one",
        // The AADSTS hint says what to do; Entra's description says what happened.
        CoreError::OAuth(oauth) => oauth.aadsts().and_then(Aadsts::hint).or(oauth.description.as_deref()).unwrap_or_else(|| oauth.error.as_str()),
        other => other.code(),
    }
}

/// The parts, joined (a loop: `[&str]::concat` links a generic join).
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}
