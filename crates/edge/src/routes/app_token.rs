//! `POST /oauth/connectors/{id}/app-token`: app-only tokens for mail servers and relays, served
//! by the connector's [`AppTokens`](crate::AppTokens) object.
//!
//! # Security
//! Not a browser API: a call with an `Origin` header is refused, and answers carry no CORS
//! headers and no cookie. The object checks the API key; the Worker only names the client for
//! the object's failure count (`CF-Connecting-IP`, else the presented key's first characters).

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use worker::{Request, Response, RouteContext};

use super::read_body;
use crate::config::Config;
use crate::cors;
use crate::error::EdgeError;
use crate::rpc;

/// `POST /oauth/connectors/{id}/app-token`.
pub(crate) async fn app_token(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    // A page must never hold an API key; a browser calling here is a misuse, whatever its origin.
    if cors::origin(&req).is_some() {
        return Err(EdgeError::Origin);
    }
    let id = ctx.param("id").map_or("", String::as_str);
    ctx.data.app_connector(id)?;
    let body = read_body(&mut req).await?;
    let authorization = req.headers().get("authorization")?.unwrap_or_default();
    let client = match req.headers().get("cf-connecting-ip")? {
        Some(ip) => format!("ip:{ip}"),
        // Only without Cloudflare in front (local runs): the key's first characters, which are no secret.
        None => format!("key:{}", bearer(&authorization).chars().take(8).collect::<String>()),
    };
    let stub: AppTokensStub = rpc::stub(&ctx.env, "APP_TOKENS", "AppTokens", &format!("app-tokens/{id}"))?;
    // Copied into a buffer of its own: RPC would copy the whole buffer behind a view, here all of wasm memory.
    let body = js_sys::Uint8Array::from(body.as_slice());
    rpc::answered(stub.call(id, &client, &authorization, &body)).await
}

/// The key in `Authorization: Bearer <key>`; empty if there is none.
pub(crate) fn bearer(authorization: &str) -> &str {
    match authorization.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => "",
    }
}

#[wasm_bindgen]
extern "C" {
    /// The Worker's view of an [`AppTokens`](crate::AppTokens) (over RPC, see [`rpc`]).
    #[wasm_bindgen(extends = js_sys::Object)]
    type AppTokensStub;

    /// [`AppTokens::call`](crate::AppTokens::call).
    #[wasm_bindgen(method, catch)]
    async fn call(this: &AppTokensStub, connector: &str, client: &str, authorization: &str, body: &js_sys::Uint8Array) -> Result<JsValue, JsValue>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_the_key_of_a_bearer_header_only() {
        assert_eq!(bearer("Bearer abc"), "abc");
        assert_eq!(bearer("bearer  abc "), "abc");
        assert_eq!(bearer("Basic abc"), "");
        assert_eq!(bearer("abc"), "");
    }
}
