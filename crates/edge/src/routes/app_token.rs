//! `POST /oauth/connectors/{id}/app-token`: app-only tokens for mail servers and relays.
//!
//! The Worker checks the API key and serves a token it already holds while it has more than
//! `token_expiry_margin` left: a hit costs no Durable Object call, so app tokens scale with the
//! isolates. A miss asks the connector's [`AppTokens`](crate::AppTokens) object, the single
//! source of the token, which fetches it once however many callers wait.
//!
//! # Security
//! Not a browser API: a call with an `Origin` header is refused, and answers carry no CORS
//! headers and no cookie. A bad key goes to the object, which counts it against the client
//! (`CF-Connecting-IP`, an IPv6 address by its /64, else the presented key's first characters)
//! for all isolates at once; a valid key is never counted nor refused for others' failures.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::rc::Rc;

use mailconnect_core::contract::{AppTokenRequest, AppTokenResponse};
use mailconnect_core::{xoauth2, xoauth2_pop3};
use wasm_bindgen::prelude::*;
use worker::{Env, Request, Response, RouteContext};

use super::{parse, read_body};
use crate::config::{App, AppGrant, Config, Connector};
use crate::cors;
use crate::error::EdgeError;
use crate::grant::{self, Grant};
use crate::rpc;

/// An address is at most 64 + 1 + 255 characters (RFC 5321 §4.5.3.1).
const MAX_USER_LEN: usize = 320;

thread_local! {
    /// This isolate's app tokens, by [`cache_key`]: what the objects answered, reused while fresh.
    static TOKENS: RefCell<HashMap<String, Grant>> = RefCell::default();
}

/// `POST /oauth/connectors/{id}/app-token`.
pub(crate) async fn app_token(mut req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    // A page must never hold an API key; a browser calling here is a misuse, whatever its origin.
    if cors::origin(&req).is_some() {
        return Err(EdgeError::Origin);
    }
    let id = ctx.param("id").map_or("", String::as_str);
    let (connector, app) = ctx.data.app_connector(id)?;
    let body = read_body(&mut req).await?;
    let authorization = req.headers().get("authorization")?.unwrap_or_default();
    let object = format!("app-tokens/{id}");
    let stub = || rpc::stub::<AppTokensStub>(&ctx.env, "APP_TOKENS", "AppTokens", &object);
    if !app.api_keys.verify(bearer(&authorization))? {
        return refuse_key(&ctx.env, &object, id, &req, &authorization).await;
    }
    // An empty body is `{}`: a token without XOAUTH2 strings.
    let request: AppTokenRequest = if body.is_empty() { AppTokenRequest::default() } else { parse(&body)? };
    let user = request.user.map(check_user).transpose()?;
    let key = cache_key(connector, app);
    let cached = TOKENS.with_borrow(|tokens| tokens.get(&key).filter(|g| g.is_fresh(grant::now(), connector.expiry_margin)).cloned());
    let grant = match cached {
        Some(grant) => grant,
        None => {
            let answer = rpc::answer(stub()?.call(id, "", &authorization)).await?;
            let token: AppTokenResponse = match answer.status() {
                200 => parse(answer.body().as_bytes())?,
                _ => return answer.into_response(),
            };
            let grant = Grant { refresh_token: None, access_token: token.access_token, expires_at: token.expires_at, scope: token.scope, account: None };
            TOKENS.with_borrow_mut(|tokens| tokens.insert(key, grant.clone()));
            grant
        }
    };
    Ok(Response::from_json(&response(&grant, user.as_deref())?)?)
}

/// The answer to a bad key: counted by the [`AppTokens`](crate::AppTokens) object called
/// `object` (with connector `id`, or "" for `BACKEND_API_KEYS`), where every bad key for the
/// route passes: 401, or 429.
pub(crate) async fn refuse_key(env: &Env, object: &str, id: &str, req: &Request, authorization: &str) -> Result<Response, EdgeError> {
    let client = client(req.headers().get("cf-connecting-ip")?, authorization);
    let stub = rpc::stub::<AppTokensStub>(env, "APP_TOKENS", "AppTokens", object)?;
    rpc::answered(stub.call(id, &client, authorization)).await
}

/// The key in `Authorization: Bearer <key>`; empty if there is none.
pub(crate) fn bearer(authorization: &str) -> &str {
    match authorization.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => "",
    }
}

/// Who presented a bad key, for the failure count: the address Cloudflare saw, an IPv6 one by
/// its /64 (one host's whole allocation, which it can rotate through freely); without
/// Cloudflare in front (local runs), the key's first characters, which are no secret.
fn client(address: Option<String>, authorization: &str) -> String {
    match address {
        Some(ip) => match ip.parse::<Ipv6Addr>() {
            Ok(v6) => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Err(_) => format!("ip:{ip}"),
        },
        None => format!("key:{}", bearer(authorization).chars().take(8).collect::<String>()),
    }
}

/// What a cached token is good for: the connector and everything that decides the token.
pub(crate) fn cache_key(connector: &Connector, app: &App) -> String {
    let mailbox = match &app.grant {
        AppGrant::ClientCredentials => "",
        AppGrant::Password(mailbox) => mailbox.username.as_str(),
    };
    format!("{}\n{}\n{}\n{}\n{mailbox}", connector.id, connector.provider.token_url(), connector.client_id, connector.scopes)
}

/// The mailbox for the XOAUTH2 strings: an address cannot hold control characters, and one
/// would break the SASL string's `\x01` framing.
pub(crate) fn check_user(user: String) -> Result<String, EdgeError> {
    if user.is_empty() || user.len() > MAX_USER_LEN || user.chars().any(char::is_control) {
        return Err(EdgeError::BadRequest(format!("user must be a mailbox address of 1 to {MAX_USER_LEN} characters without control characters")));
    }
    Ok(user)
}

/// The answer for `grant`, with the SASL strings for `user` if given.
pub(crate) fn response(grant: &Grant, user: Option<&str>) -> Result<AppTokenResponse, EdgeError> {
    let (xoauth2, xoauth2_pop3) = sasl(user, grant.access_token.expose())?;
    Ok(AppTokenResponse {
        access_token: grant.access_token.clone(),
        token_type: "Bearer".into(),
        expires_in: grant.expires_at.saturating_sub(grant::now()),
        expires_at: grant.expires_at,
        scope: grant.scope.clone(),
        xoauth2,
        xoauth2_pop3,
    })
}

/// The IMAP/SMTP and POP3 XOAUTH2 strings for `user` and `token`, if there is a user.
pub(crate) fn sasl(user: Option<&str>, token: &str) -> Result<(Option<String>, Option<String>), EdgeError> {
    let Some(user) = user else {
        return Ok((None, None));
    };
    let build = |build: fn(&str, &str) -> Result<String, mailconnect_core::CoreError>| {
        build(user, token).map_err(|_| EdgeError::UpstreamMalformed("the access token holds control characters".into()))
    };
    Ok((Some(build(xoauth2)?), Some(build(xoauth2_pop3)?)))
}

#[wasm_bindgen]
extern "C" {
    /// The Worker's view of an [`AppTokens`](crate::AppTokens) (over RPC, see [`rpc`]).
    #[wasm_bindgen(extends = js_sys::Object)]
    type AppTokensStub;

    /// [`AppTokens::call`](crate::AppTokens::call).
    #[wasm_bindgen(method, catch)]
    async fn call(this: &AppTokensStub, connector: &str, client: &str, authorization: &str) -> Result<JsValue, JsValue>;
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

    #[test]
    fn clients_are_named_by_address_an_ipv6_one_by_its_64() {
        assert_eq!(client(Some("203.0.113.7".into()), ""), "ip:203.0.113.7");
        let a = client(Some("2001:db8:1:2:aaaa::1".into()), "");
        assert_eq!(a, "ip:2001:db8:1:2::/64");
        assert_eq!(client(Some("2001:0db8:0001:0002:ffff:1:2:3".into()), ""), a);
        assert_ne!(client(Some("2001:db8:1:3::1".into()), ""), a);
        assert_eq!(client(None, "Bearer abcdefghijkl"), "key:abcdefgh");
    }

    #[test]
    fn users_with_control_characters_or_no_characters_are_refused() {
        for bad in ["", "relay@contoso.dev\r\nQUIT", "a\u{1}b@contoso.dev", &"x".repeat(MAX_USER_LEN + 1)] {
            assert!(matches!(check_user(bad.to_owned()), Err(EdgeError::BadRequest(_))), "{bad:?}");
        }
        assert_eq!(check_user("relay@contoso.dev".into()).unwrap(), "relay@contoso.dev");
    }
}
