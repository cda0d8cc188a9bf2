//! The edge Worker's HTTP API (`mailconnect_core::contract`), over `fetch`.
//!
//! # Security
//! Every request carries the session cookie (`credentials: "include"`, so an edge on a sibling
//! subdomain works too) and [`CSRF_HEADER`], which a cross-site form cannot send. Responses are
//! never cached (`cache: "no-store"`), and a body that fails to parse is dropped, not kept in an
//! error: half-parsed, it may still hold a token.

use crate::de::from_js;
use crate::dom::window;
use crate::error::WebError;
use mailconnect_core::contract::{ConnectorInfo, Disconnected, ErrorBody, SessionInfo, TokenRequest, TokenResponse, CSRF_HEADER, CSRF_HEADER_VALUE};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestCache, RequestCredentials, RequestInit, Response};

/// One connector's routes at one edge.
#[derive(Clone, Debug)]
pub(crate) struct EdgeClient {
    base: String,
    connector: String,
}

impl EdgeClient {
    /// `base` is the edge URL with its `/oauth` prefix (`https://mail.example.com/oauth`).
    pub(crate) fn new(base: &str, connector: &str) -> Self {
        EdgeClient { base: base.trim_end_matches('/').to_owned(), connector: connector.to_owned() }
    }

    /// The edge URL, as given.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The connector id.
    pub(crate) fn connector(&self) -> &str {
        &self.connector
    }

    /// `{edge}:{connector}`: names this connector's locks, channels and markers.
    pub(crate) fn key(&self) -> String {
        [self.base.as_str(), ":", &self.connector].concat()
    }

    fn route(&self, action: &str) -> String {
        let id = String::from(js_sys::encode_uri_component(&self.connector));
        [self.base.as_str(), "/connectors/", &id, action].concat()
    }

    /// `GET /connectors/{id}`
    pub(crate) async fn connector_info(&self) -> Result<ConnectorInfo, WebError> {
        let url = self.route("");
        decode(&url, call(&url, None).await?)
    }

    /// `POST /connectors/{id}/token`: redeems an authorization code at the edge.
    pub(crate) async fn exchange(&self, request: &TokenRequest) -> Result<TokenResponse, WebError> {
        let url = self.route("/token");
        decode(&url, call(&url, Some(json(request))).await?)
    }

    /// `POST /connectors/{id}/refresh`: a fresh access token from the edge's session.
    pub(crate) async fn refresh(&self) -> Result<TokenResponse, WebError> {
        let url = self.route("/refresh");
        decode(&url, call(&url, Some(EMPTY.into())).await?)
    }

    /// `POST /connectors/{id}/disconnect`
    pub(crate) async fn disconnect(&self) -> Result<(), WebError> {
        let url = self.route("/disconnect");
        decode::<Disconnected>(&url, call(&url, Some(EMPTY.into())).await?).map(drop)
    }

    /// `GET /session`
    pub(crate) async fn session(&self) -> Result<SessionInfo, WebError> {
        let url = [self.base.as_str(), "/session"].concat();
        decode(&url, call(&url, None).await?)
    }
}

/// The body of refresh and disconnect.
const EMPTY: &str = "{}";

fn json(body: &impl Serialize) -> String {
    let value = body.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect_throw("unreachable: contract requests serialize");
    js_sys::JSON::stringify(&value).expect_throw("unreachable: plain objects stringify").into()
}

/// A response's status and parsed JSON body.
struct Answer {
    status: u16,
    ok: bool,
    body: Result<JsValue, JsValue>,
}

/// GET without a body, POST with a JSON body. Not generic, so there is one copy of it.
async fn call(url: &str, body: Option<String>) -> Result<Answer, WebError> {
    let headers = Headers::new().expect_throw("unreachable: new Headers() does not throw");
    let set = |name: &str, value: &str| headers.set(name, value).expect_throw("unreachable: the header names and values are valid");
    set(CSRF_HEADER, CSRF_HEADER_VALUE);
    let init = RequestInit::new();
    init.set_credentials(RequestCredentials::Include);
    init.set_cache(RequestCache::NoStore);
    match body {
        Some(body) => {
            set("content-type", "application/json");
            init.set_method("POST");
            init.set_body(&body.into());
        }
        None => init.set_method("GET"),
    }
    init.set_headers(&headers);

    let fetched = JsFuture::from(window().fetch_with_str_and_init(url, &init)).await;
    let response: Response = fetched.map_err(|_| WebError::Network(url.to_owned()))?.unchecked_into();
    let body = match response.json() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(e) => Err(e),
    };
    Ok(Answer { status: response.status(), ok: response.ok(), body })
}

/// Reads an answer of the contract: `T` on 2xx, [`ErrorBody`] otherwise.
fn decode<T: DeserializeOwned>(url: &str, answer: Answer) -> Result<T, WebError> {
    let bad = || WebError::BadResponse { url: url.to_owned(), status: answer.status };
    let json = answer.body.map_err(|_| bad())?;
    if answer.ok {
        from_js(json).map_err(|_| bad())
    } else {
        Err(from_js::<ErrorBody>(json).map_or_else(|_| bad(), WebError::Edge))
    }
}
