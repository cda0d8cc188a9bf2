//! The one way out to a provider: the runtime's `fetch(url, init)` with the connector's timeout,
//! for the token endpoint (through `oauth2`) and the revocation endpoint alike.
//!
//! # Security
//! Requests go out without an `Origin` header (with one, Entra treats the redemption as a
//! cross-origin SPA call and fails with AADSTS9002326), do not follow redirects, and give up
//! after `UPSTREAM_TIMEOUT_MS`. Every non-200 reply is classified here with core's
//! [`OAuthError`]: `oauth2`'s `StandardErrorResponse` would drop Entra's `error_codes` and the
//! HTTP status, which decide the action.

use std::time::Duration;

use mailconnect_core::OAuthError;
use oauth2::{HttpRequest, HttpResponse};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{js_message, EdgeError};

/// Sends one request to a token (or revocation) endpoint. Only a 200 reaches `oauth2`; every
/// other reply becomes an [`EdgeError`] here, classified by core.
pub(crate) async fn send(request: HttpRequest, timeout: Duration) -> Result<HttpResponse, EdgeError> {
    // Straight to the runtime's fetch(url, init), as a JavaScript Worker would call it: through
    // `worker::Fetch` a request is a Request object, which fetch then copies with the signal,
    // and each costs time (README, "Measured").
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
