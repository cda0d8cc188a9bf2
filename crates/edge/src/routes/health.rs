//! `/oauth/health`, answered by [`crate::fetch`] before the router: synchronously, from a body
//! and headers made once per isolate.

use mailconnect_core::contract::Health;
use wasm_bindgen::prelude::*;
use worker::Env;

use crate::config::Config;
use crate::cors;
use crate::error::EdgeError;

/// `/oauth/health`: `{"status":"ok"}` to a GET once the settings load; 405 to other methods.
pub(crate) fn health(method: &str, origin: Option<&str>, env: &Env) -> web_sys::Response {
    let config = match Config::load(env) {
        Ok(config) => config,
        Err(e) => return cors::finish(e.into_response(), None, None).into(),
    };
    if method != "GET" {
        return cors::finish(EdgeError::MethodNotAllowed.into_response(), origin, Some(&config)).into();
    }
    let response =
        HEALTHY.with(|(body, init)| web_sys::Response::new_with_opt_str_and_init(Some(body), init)).expect_throw("unreachable: a JSON text and headers");
    if let Some(origin) = origin {
        cors::allow(&response.headers(), origin, &config);
    }
    response
}

thread_local! {
    /// The health answer's body, status and headers, made once per isolate: the response
    /// constructor copies them, so each check costs one call out of Rust instead of one per header.
    static HEALTHY: (String, web_sys::ResponseInit) = {
        let body = serde_json::to_string(&Health { status: "ok".into() }).expect_throw("unreachable: a struct of one string");
        let headers = web_sys::Headers::new().expect_throw("unreachable: new Headers()");
        let _ = headers.set("content-type", "application/json");
        cors::set_common(&headers);
        let init = web_sys::ResponseInit::new();
        init.set_headers(&headers);
        (body, init)
    };
}
