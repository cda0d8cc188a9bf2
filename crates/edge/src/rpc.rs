//! How the Worker calls its Durable Objects: Workers RPC, not `fetch`.
//!
//! Each object class exports one method, `call`, which the Worker's stub calls directly: no
//! Request and Response are built and converted on either side, which is faster than `fetch`.
//! One method per class, since each exported async method makes the Worker larger (both in the
//! README, "Measured"). workerd offers the methods only because crates/edge/entry.mjs makes the
//! classes extend `DurableObject`.
//!
//! A method resolves to an [`Answer`], which the Worker sends on as its response.

use std::future::Future;

use serde::Serialize;
use wasm_bindgen::prelude::*;
use worker::{Env, Response};

use crate::error::{js_message, EdgeError};

#[wasm_bindgen]
extern "C" {
    /// An object's answer: the status, the JSON body and extra headers of the Worker's response.
    /// A plain object, since RPC passes values by structured clone.
    #[wasm_bindgen(extends = js_sys::Object)]
    pub type Answer;

    #[wasm_bindgen(method, getter)]
    pub(crate) fn status(this: &Answer) -> u16;
    #[wasm_bindgen(method, setter)]
    fn set_status(this: &Answer, status: u16);
    #[wasm_bindgen(method, getter)]
    pub(crate) fn body(this: &Answer) -> String;
    #[wasm_bindgen(method, setter)]
    fn set_body(this: &Answer, body: &str);
    /// `[name, value]` pairs.
    #[wasm_bindgen(method, getter)]
    fn headers(this: &Answer) -> js_sys::Array;
    #[wasm_bindgen(method, setter)]
    fn set_headers(this: &Answer, headers: &js_sys::Array);
}

impl Answer {
    /// 200 with `value`'s JSON, or the error's status, [`ErrorBody`](mailconnect_core::contract::ErrorBody)
    /// and headers.
    pub(crate) fn of<T: Serialize>(result: Result<T, EdgeError>) -> Answer {
        let answer: Answer = js_sys::Object::new().unchecked_into();
        answer.set_headers(&js_sys::Array::new());
        match result.and_then(|value| serde_json::to_string(&value).map_err(|e| EdgeError::Internal(e.to_string()))) {
            Ok(json) => {
                answer.set_status(200);
                answer.set_body(&json);
            }
            Err(e) => {
                if let Some((name, value)) = e.header() {
                    answer.add_header(name, &value);
                }
                let (status, body) = e.into_status_and_body();
                answer.set_status(status);
                answer.set_body(&body);
            }
        }
        answer
    }

    pub(crate) fn add_header(&self, name: &str, value: &str) {
        self.headers().push(&js_sys::Array::of2(&name.into(), &value.into()));
    }

    /// The Worker's response: the answer as it is, with a JSON content type.
    pub(crate) fn into_response(self) -> Result<Response, EdgeError> {
        let mut response = Response::builder().with_status(self.status()).with_header("content-type", "application/json")?.fixed(self.body().into_bytes());
        for pair in self.headers() {
            let pair: js_sys::Array = pair.unchecked_into();
            if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                response.headers_mut().append(&name, &value)?;
            }
        }
        Ok(response)
    }
}

/// The stub of the object called `name` in the namespace bound as `binding` (class `class`),
/// as the RPC interface `T`.
pub(crate) fn stub<T: JsCast>(env: &Env, binding: &str, class: &str, name: &str) -> Result<T, EdgeError> {
    let namespace = env
        .durable_object(binding)
        .map_err(|_| EdgeError::Config { setting: binding.into(), problem: format!("the Durable Object binding for class {class} is missing") })?;
    Ok(namespace.get_by_name(name)?.into_rpc())
}

/// The response for what `call` resolved to. A call that fails in the runtime (the object reset
/// or overloaded) is a retryable 503; a Worker deployed without its entry module, whose objects
/// therefore refuse RPC, is a configuration error naming `main`.
pub(crate) async fn answered(call: impl Future<Output = Result<JsValue, JsValue>>) -> Result<Response, EdgeError> {
    answer(call).await?.into_response()
}

/// What `call` resolved to, for a caller that reads it before answering; failures as in [`answered`].
pub(crate) async fn answer(call: impl Future<Output = Result<JsValue, JsValue>>) -> Result<Answer, EdgeError> {
    match call.await {
        Ok(answer) => Ok(answer.unchecked_into::<Answer>()),
        Err(e) => {
            let reason = js_message(&e);
            if reason.contains("does not support RPC") {
                return Err(EdgeError::Config {
                    setting: "main".into(),
                    problem: "wrangler.toml must name crates/edge/entry.mjs as the Worker's main module, not worker-build's output".into(),
                });
            }
            Err(EdgeError::Internal(format!("a Durable Object call failed: {reason}")))
        }
    }
}
