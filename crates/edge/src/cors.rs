//! Which browser requests may do what: CORS for the allowed origins only, and the CSRF rules
//! for calls that change state.
//!
//! # Security
//! A state-changing call must carry an allowed `Origin`, `Content-Type: application/json` and
//! `x-mailconnect: 1`. A cross-site form can set neither of the last two, and a cross-site
//! `fetch` that sets them needs a preflight, which only allowed origins pass. The session
//! cookie is `SameSite=Strict` besides.

use mailconnect_core::contract::{CSRF_HEADER, CSRF_HEADER_VALUE};
use worker::{Request, Response};

use crate::config::Config;
use crate::error::EdgeError;

/// The request's `Origin`, if a browser sent one.
pub(crate) fn origin(req: &Request) -> Option<String> {
    req.headers().get("origin").ok().flatten()
}

/// A read: a browser's cross-origin read must come from an allowed origin. Same-origin GETs
/// and non-browser clients send no `Origin`.
pub(crate) fn check_read(req: &Request, config: &Config) -> Result<(), EdgeError> {
    match origin(req) {
        Some(o) if !config.allows_origin(&o) => Err(EdgeError::Origin),
        _ => Ok(()),
    }
}

/// A state-changing call: allowed `Origin`, the CSRF header, a JSON body.
pub(crate) fn check_write(req: &Request, config: &Config) -> Result<(), EdgeError> {
    if !origin(req).is_some_and(|o| config.allows_origin(&o)) {
        return Err(EdgeError::Origin);
    }
    if req.headers().get(CSRF_HEADER)?.as_deref() != Some(CSRF_HEADER_VALUE) {
        return Err(EdgeError::CsrfHeader);
    }
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(EdgeError::MediaType);
    }
    Ok(())
}

/// Headers every API response gets: CORS for an allowed origin, and `no-store`, since bodies
/// hold tokens (RFC 6749 §5.1).
pub(crate) fn finish(mut response: Response, origin: Option<&str>, config: Option<&Config>) -> Response {
    let headers = &response.headers_mut().0;
    set_common(headers);
    if let (Some(origin), Some(config)) = (origin, config) {
        allow(headers, origin, config);
    }
    response
}

/// What [`finish`] sets whatever the origin.
pub(crate) fn set_common(headers: &web_sys::Headers) {
    // Setting well-formed headers cannot fail.
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-content-type-options", "nosniff");
    let _ = headers.set("vary", "Origin");
}

/// Credentialed CORS for `origin`, if it is allowed.
pub(crate) fn allow(headers: &web_sys::Headers, origin: &str, config: &Config) {
    if config.allows_origin(origin) {
        let _ = headers.set("access-control-allow-origin", origin);
        let _ = headers.set("access-control-allow-credentials", "true");
    }
}
