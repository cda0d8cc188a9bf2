//! The edge's HTTP API (core's `contract`), through `fetch`. Answers are read into core's contract
//! types field by field with `Reflect` (serde-wasm-bindgen would cost the wasm about 20 KB gzip);
//! each reader builds the whole core struct, so a field added to the contract fails to compile
//! here until it is read, and `contract_types_of_core_read_as_the_module_expects` (tests/web.rs)
//! serves core's own serialization, so a renamed field fails that test.
//!
//! With a ticket function, an answer `ticket_required` binds the session (session.rs) and the
//! request goes once more; an answer that comes back after the session changed hands is refused.
//!
//! Every request carries the session cookie (`credentials: "include"`, so an edge on a sibling
//! subdomain works too) and core's CSRF header, which a cross-site form cannot send; nothing is
//! cached. A body outside the contract is dropped, never kept in an error: half-parsed, it may
//! still hold a token.

use crate::browser::{absent, get, is_plain, object, window};
use crate::error::{bad_response, concat, edge_error, fail, misconfigured, Code, Result};
use crate::prelude::*;
use crate::session;
use js_sys::{Array, Function, JSON};
use mailconnect_core::contract::route::{self, Route};
use mailconnect_core::contract::{
    Account, Connection, ConnectorInfo, Disconnected, Ended, ErrorBody, SessionInfo, TokenResponse, CSRF_HEADER, CSRF_HEADER_VALUE, TICKET_REQUIRED,
};
use mailconnect_core::{AccessToken, Action};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCache, RequestCredentials, RequestInit, Response};

/// One connector's routes at one edge.
#[derive(Debug)]
pub(crate) struct Edge {
    /// The edge URL with its `/oauth` prefix, no trailing slash.
    pub(crate) base: String,
    /// The connector id.
    pub(crate) connector: String,
    /// The page's ticket function, when the edge binds sessions to the webmail's users.
    ticket: Option<Function>,
}

/// The edge's base URL from `url`, absolute or relative to this page, without a trailing `/`:
/// the one spelling that names its routes, locks and channels.
pub(crate) fn base_url(url: &str) -> Result<String> {
    let here = window().location().href().unwrap_or_default();
    let base = web_sys::Url::new_with_base(url, &here).map_err(|_| misconfigured(&concat(&["invalid edge URL \"", url, "\""])))?;
    Ok(base.href().trim_end_matches('/').to_owned())
}

impl Edge {
    /// The edge at `base`, as [`base_url`] spells it.
    pub(crate) fn new(base: &str, connector: &str) -> Edge {
        Edge { base: base.to_owned(), connector: connector.to_owned(), ticket: None }
    }

    /// Binds the session with fresh tickets from `ticket` whenever the edge asks for one.
    pub(crate) fn with_ticket(self, ticket: Option<Function>) -> Edge {
        Edge { ticket, ..self }
    }

    /// The edge at `url`, absolute or relative to this page, as the page's options give it.
    pub(crate) fn resolve(url: &str, connector: &str) -> Result<Edge> {
        Ok(Edge::new(&base_url(url)?, connector))
    }

    /// Names this connector's Web Lock, token channel and busy marker: `{base}:{connector}`.
    pub(crate) fn key(&self) -> String {
        concat(&[&self.base, ":", &self.connector])
    }

    /// `route`'s URL for this connector. The id is escaped: it comes from the page's options, not
    /// from the edge's checked settings.
    fn url(&self, route: Route) -> String {
        route.url(&self.base, &String::from(js_sys::encode_uri_component(&self.connector)))
    }

    /// `GET /connectors/{id}`.
    pub(crate) async fn info(&self) -> Result<ConnectorInfo> {
        let url = self.url(route::CONNECTOR);
        read(&url, self.fetch_json(&url, None).await?, connector_info)
    }

    /// `POST /connectors/{id}/token`: redeems an authorization code (core's `TokenRequest`).
    pub(crate) async fn exchange(&self, code: &str, verifier: &str, redirect_uri: &str) -> Result<TokenResponse> {
        let body = object(&[("code", &code.into()), ("code_verifier", &verifier.into()), ("redirect_uri", &redirect_uri.into())]);
        let url = self.url(route::TOKEN);
        read(&url, self.fetch_json(&url, Some(&body)).await?, token_response)
    }

    /// `POST /connectors/{id}/refresh`.
    pub(crate) async fn refresh(&self) -> Result<TokenResponse> {
        let url = self.url(route::REFRESH);
        read(&url, self.fetch_json(&url, Some(&js_sys::Object::new())).await?, token_response)
    }

    /// `POST /connectors/{id}/disconnect`.
    pub(crate) async fn disconnect(&self) -> Result<Disconnected> {
        let url = self.url(route::DISCONNECT);
        read(&url, self.fetch_json(&url, Some(&js_sys::Object::new())).await?, disconnected)
    }

    /// `GET /session`.
    pub(crate) async fn session(&self) -> Result<SessionInfo> {
        let url = route::SESSION.url(&self.base, "");
        read(&url, self.fetch_json(&url, None).await?, session_info)
    }

    /// `POST /session/bind` (core's `BindRequest`): the session, now the ticket's user's.
    pub(crate) async fn bind(&self, ticket: &str) -> Result<SessionInfo> {
        let url = route::SESSION_BIND.url(&self.base, "");
        read(&url, self.fetch_json(&url, Some(&object(&[("ticket", &ticket.into())]))).await?, session_info)
    }

    /// `POST /session/end`.
    pub(crate) async fn end(&self) -> Result<Ended> {
        let url = route::SESSION_END.url(&self.base, "");
        read(&url, self.fetch_json(&url, Some(&js_sys::Object::new())).await?, ended)
    }

    /// GET (no body) or POST (a JSON body) `url`: the parsed body of a 2xx answer and its status
    /// (for `read`), the edge's error for any other status. With a ticket function,
    /// `ticket_required` binds the session and the request goes once more; an answer that arrives
    /// once the binding changed is refused (`session_changed`): it may be the previous user's.
    /// Not generic, so its future exists once; each route reads its answer with `read`.
    async fn fetch_json(&self, url: &str, body: Option<&js_sys::Object>) -> Result<(JsValue, u16)> {
        let mut retried = false;
        loop {
            let before = session::generation();
            let answer = fetch_json(url, body).await;
            let changed = session::generation() != before;
            match (answer, &self.ticket) {
                (Err(e), Some(ticket)) if !retried && get(&e, "code").as_string().as_deref() == Some(TICKET_REQUIRED) => {
                    // Unless another request bound the session meanwhile.
                    if !changed {
                        session::bind(&self.base, ticket).await?;
                    }
                    retried = true;
                }
                (Ok(_), _) if changed => {
                    return Err(fail(Code::SessionChanged, "the webmail's user changed during this request: try again"));
                }
                (answer, _) => return answer,
            }
        }
    }
}

/// A 2xx answer of `url` as `reader` reads it (`bad_response` when it does not).
fn read<T>(url: &str, (json, status): (JsValue, u16), reader: fn(&JsValue) -> Option<T>) -> Result<T> {
    reader(&json).ok_or_else(|| bad_response(url, status))
}

/// The parsed body of a 2xx answer and its status; the edge's error for any other status (or
/// `bad_response` without one): one request, as `Edge::fetch_json` sends it.
async fn fetch_json(url: &str, body: Option<&js_sys::Object>) -> Result<(JsValue, u16)> {
    let init = RequestInit::new();
    init.set_credentials(RequestCredentials::Include);
    init.set_cache(RequestCache::NoStore);
    let headers = object(&[(CSRF_HEADER, &CSRF_HEADER_VALUE.into())]);
    match body {
        Some(body) => {
            init.set_method("POST");
            crate::browser::set(&headers, "content-type", &"application/json".into());
            init.set_body(&JSON::stringify(body).map(JsValue::from).unwrap_or_default());
        }
        None => init.set_method("GET"),
    }
    init.set_headers(&headers);
    let unreachable =
        || fail(Code::NetworkError, &concat(&["could not reach the mailconnect edge at ", url, ": check the network connection and the edge URL"]));
    let response: Response = JsFuture::from(window().fetch_with_str_and_init(url, &init)).await.map_err(|_| unreachable())?.unchecked_into();
    let json = match response.json() {
        Ok(p) => JsFuture::from(p).await.unwrap_or_default(),
        Err(_) => JsValue::UNDEFINED,
    };
    if response.ok() {
        return Ok((json, response.status()));
    }
    Err(error_body(&json).map_or_else(|| bad_response(url, response.status()), edge_error))
}

// ---- readers: core's contract types from the parsed JSON, as serde would read them -----------

fn string(v: &JsValue, key: &str) -> Option<String> {
    get(v, key).as_string()
}

/// An `Option<T>` field: absent or null is `Some(None)`, a wrong type `None`.
fn optional<T>(v: &JsValue, key: &str, read: impl Fn(&JsValue) -> Option<T>) -> Option<Option<T>> {
    let field = get(v, key);
    if absent(&field) {
        Some(None)
    } else {
        read(&field).map(Some)
    }
}

fn opt_string(v: &JsValue, key: &str) -> Option<Option<String>> {
    optional(v, key, JsValue::as_string)
}

fn uint(v: &JsValue) -> Option<u64> {
    // Whole: the cast back gives the same number (`fract` is std's).
    v.as_f64().filter(|n| *n >= 0.0 && *n <= 9_007_199_254_740_991.0 && (*n as u64) as f64 == *n).map(|n| n as u64)
}

/// A plain loop: `collect` into `Option<Vec<T>>` costs an adapter per `T`.
fn list<T>(v: &JsValue, read: impl Fn(&JsValue) -> Option<T>) -> Option<Vec<T>> {
    if !Array::is_array(v) {
        return None;
    }
    let mut items = Vec::new();
    for item in Array::from(v).iter() {
        items.push(read(&item)?);
    }
    Some(items)
}

fn plain(v: &JsValue) -> Option<&JsValue> {
    is_plain(v).then_some(v)
}

pub(crate) fn account(v: &JsValue) -> Option<Account> {
    let v = plain(v)?;
    Some(Account { name: opt_string(v, "name")?, username: opt_string(v, "username")?, oid: opt_string(v, "oid")?, tid: opt_string(v, "tid")? })
}

fn connector_info(v: &JsValue) -> Option<ConnectorInfo> {
    let v = plain(v)?;
    Some(ConnectorInfo {
        id: string(v, "id")?,
        authorize_url: string(v, "authorize_url")?,
        client_id: string(v, "client_id")?,
        scope: string(v, "scope")?,
        redirect_uris: list(&get(v, "redirect_uris"), JsValue::as_string)?,
        prompt: opt_string(v, "prompt")?,
        domain_hint: opt_string(v, "domain_hint")?,
        issuer: opt_string(v, "issuer")?,
        authorization_response_iss_parameter_supported: optional(v, "authorization_response_iss_parameter_supported", JsValue::as_bool)?.unwrap_or(false),
        admin_consent_url: opt_string(v, "admin_consent_url")?,
    })
}

fn token_response(v: &JsValue) -> Option<TokenResponse> {
    let v = plain(v)?;
    Some(TokenResponse {
        access_token: AccessToken::new(string(v, "access_token")?),
        token_type: string(v, "token_type")?,
        expires_in: uint(&get(v, "expires_in"))?,
        expires_at: uint(&get(v, "expires_at"))?,
        scope: string(v, "scope")?,
        account: optional(v, "account", account)?,
    })
}

fn disconnected(v: &JsValue) -> Option<Disconnected> {
    Some(Disconnected { status: string(plain(v)?, "status")? })
}

fn ended(v: &JsValue) -> Option<Ended> {
    Some(Ended { status: string(plain(v)?, "status")? })
}

fn session_info(v: &JsValue) -> Option<SessionInfo> {
    let connection = |c: &JsValue| {
        let c = plain(c)?;
        Some(Connection { id: string(c, "id")?, account: optional(c, "account", account)? })
    };
    Some(SessionInfo { connectors: list(&get(plain(v)?, "connectors"), connection)? })
}

fn error_body(v: &JsValue) -> Option<ErrorBody> {
    let v = plain(v)?;
    let action = string(v, "action")?;
    let actions = [Action::Reconnect, Action::Consent, Action::Interaction, Action::Configuration, Action::Retry, Action::None];
    Some(ErrorBody {
        error: string(v, "error")?,
        error_description: string(v, "error_description")?,
        action: actions.into_iter().find(|a| a.as_str() == action)?,
        retryable: get(v, "retryable").as_bool()?,
        error_codes: optional(v, "error_codes", |codes| list(codes, |c| uint(c).and_then(|n| u32::try_from(n).ok())))?,
    })
}
