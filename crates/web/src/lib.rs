//! mailconnect for the browser: connect a webmail to Microsoft 365 (or any OAuth provider the
//! edge knows) in a popup or by redirect, and get fresh access tokens from the mailconnect edge.
//!
//! The module talks only to the edge's HTTP API (`mailconnect_core::contract`) and to the
//! provider's authorize page; refresh tokens never reach the browser.
//!
//! ```js
//! import init, { Connector, MailconnectError } from "/pkg/mailconnect.js";
//! await init();
//! const teams = await Connector.load({ edge: location.origin + "/oauth", connector: "teams" });
//! button.onclick = () => teams.connect({ mode: "auto" }).then((s) => render(s.account), showError);
//! const { accessToken } = await teams.accessToken();
//! ```
//! and on the redirect URI's page:
//! ```js
//! import init, { handleCallback } from "/pkg/mailconnect.js";
//! await init();
//! handleCallback().catch((e) => { document.body.textContent = e.message; });
//! ```
//!
//! Every rejection is a `MailconnectError` (an `Error`) with `code`, `action` and `retryable`.
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod auth_code;
mod cache;
mod de;
mod dom;
mod edge_client;
mod error;
mod popup;
mod redirect;

use crate::auth_code::Hints;
use crate::cache::TokenCache;
use crate::dom::{origin, window};
use crate::edge_client::EdgeClient;
use crate::error::WebError;
use crate::popup::Watch;
use js_sys::Promise;
use mailconnect_core::contract::{Account, ConnectorInfo, TokenResponse};
use mailconnect_core::{AccessToken, Prompt, ReturnTo};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What the user, or an admin, can do about an error. */
export type Action = "reconnect" | "consent" | "interaction" | "configuration" | "retry" | "none";

/** The class of every error this module rejects with. */
export class MailconnectError extends Error {
  private constructor();
  readonly name: "MailconnectError";
  /**
   * A stable snake_case code: the edge's (e.g. `invalid_grant`, `not_connected`) or this
   * module's: `network_error`, `bad_response`, `popup_blocked`, `popup_closed`, `timeout`,
   * `interaction_in_progress`, `configuration_error`, `not_a_callback`, `unknown_state`,
   * `state_mismatch`, `issuer_mismatch`, `invalid_return_to`, `browser_unsupported`, or an OAuth
   * error from the provider (`access_denied`, `consent_required`, ...).
   */
  readonly code: string;
  readonly action: Action;
  /** Whether the same call may succeed later. */
  readonly retryable: boolean;
  /** Entra ID's AADSTS numbers, when there were any. */
  readonly errorCodes?: number[];
}

export interface ConnectorOptions {
  /** The edge's URL with its `/oauth` prefix, absolute or relative to this page: `location.origin + "/oauth"`. */
  edge: string;
  /** The connector's id at the edge, e.g. `"teams"`. */
  connector: string;
  /** One of the connector's redirect URIs (default: its first). Must be on this page's origin. */
  redirectUri?: string;
  /** Refresh a token that has less than this many milliseconds left. Default 60000. */
  refreshMarginMs?: number;
}

export interface ConnectOptions {
  /**
   * `"popup"` (rejects `popup_blocked` if the browser refuses), `"redirect"` (the page leaves;
   * the promise never settles), or `"auto"` (popup, else redirect). Default `"auto"`.
   */
  mode?: "popup" | "redirect" | "auto";
  /** Popup: give up after this many milliseconds (`timeout`). Default 300000. */
  timeoutMs?: number;
  /** Redirect: the same-origin path to return to. Default: this page's path, query and fragment. */
  returnTo?: string;
  prompt?: "login" | "consent" | "select_account" | "none";
  loginHint?: string;
  domainHint?: string;
}

/** Who signed in. */
export interface Account {
  name?: string;
  username?: string;
  oid?: string;
  tid?: string;
}

export interface Status {
  connected: boolean;
  account?: Account;
}

export interface TokenInfo {
  accessToken: string;
  /** Milliseconds since the epoch, by this browser's clock. */
  expiresAt: number;
  /** The granted scopes, space-separated. */
  scope: string;
  account?: Account;
}
"#;

const DEFAULT_MARGIN_MS: f64 = 60_000.0;
const DEFAULT_TIMEOUT_MS: u32 = 5 * 60 * 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectorOptions {
    edge: String,
    connector: String,
    redirect_uri: Option<String>,
    refresh_margin_ms: Option<f64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectOptions {
    #[serde(default)]
    mode: Mode,
    timeout_ms: Option<f64>,
    return_to: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Popup,
    Redirect,
    #[default]
    Auto,
}

/// `Status` of the TypeScript section.
#[derive(Serialize)]
struct Status {
    connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account>,
}

/// `TokenInfo` of the TypeScript section; also what tabs share (see `cache`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenInfo {
    access_token: AccessToken,
    expires_at: f64,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<Account>,
}

impl TokenInfo {
    /// Expiry by the local clock (`expires_in`, not the edge's `expires_at`): immune to skew.
    fn new(response: TokenResponse, now_ms: f64) -> Self {
        TokenInfo {
            access_token: response.access_token,
            expires_at: now_ms + response.expires_in as f64 * 1000.0,
            scope: response.scope,
            account: response.account,
        }
    }
}

fn to_js(value: &impl Serialize) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect_throw("unreachable: plain data serializes")
}

/// Settles a promise from a fallible future. Boxed, so every export shares one instance of the
/// promise machinery.
fn promise(f: impl Future<Output = Result<JsValue, WebError>> + 'static) -> Promise {
    settle(Box::pin(f))
}

fn settle(f: Pin<Box<dyn Future<Output = Result<JsValue, WebError>>>>) -> Promise {
    future_to_promise(async move { f.await.map_err(JsValue::from) })
}

/// One connector of one edge: sign-in, tokens, status, disconnect. `free()` stops listening to
/// the other tabs.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Connector {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    edge: EdgeClient,
    info: ConnectorInfo,
    redirect_uri: String,
    cache: TokenCache,
}

#[wasm_bindgen]
impl Connector {
    /// Fetches the connector's public settings from the edge.
    pub async fn load(#[wasm_bindgen(unchecked_param_type = "ConnectorOptions")] options: JsValue) -> Result<Connector, JsValue> {
        Ok(Connector { inner: Rc::new(Inner::load(options).await?) })
    }

    /// Signs in, in a popup or by redirect, and resolves with the account once the edge holds
    /// the tokens. Not `async` on purpose: the popup opens before this returns, inside the
    /// click's task, so no blocker refuses it. A second call while this tab's popup is open
    /// focuses it and returns the same promise.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn connect(&self, #[wasm_bindgen(unchecked_optional_param_type = "ConnectOptions")] options: Option<JsValue>) -> Promise {
        self.start(options.unwrap_or(JsValue::UNDEFINED)).unwrap_or_else(|e| Promise::reject(&e.into()))
    }

    /// An access token valid for at least the refresh margin: from memory, from another tab, or
    /// refreshed by the edge (one refresh for all tabs of this origin).
    #[wasm_bindgen(js_name = accessToken, unchecked_return_type = "Promise<TokenInfo>")]
    pub fn access_token(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { Ok(to_js(&inner.cache.access_token().await?)) })
    }

    /// Whether the edge session holds tokens for this connector, and for whom.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn status(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let session = inner.edge.session().await?;
            let connection = session.connectors.into_iter().find(|c| c.id == inner.edge.connector());
            Ok(to_js(&Status { connected: connection.is_some(), account: connection.and_then(|c| c.account) }))
        })
    }

    /// Ends the edge session's grant for this connector and clears the token in every tab.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disconnect(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { inner.cache.disconnect().await.map(|()| JsValue::UNDEFINED) })
    }
}

impl Connector {
    fn start(&self, options: JsValue) -> Result<Promise, WebError> {
        let inner = &self.inner;
        let opts: ConnectOptions = if options.is_undefined() || options.is_null() {
            ConnectOptions::default()
        } else {
            de::from_js(options).map_err(|_| {
                WebError::Configuration(
                    "invalid ConnectOptions: expected { mode?: \"popup\" | \"redirect\" | \"auto\", timeoutMs?: number, returnTo?: string, prompt?: string, loginHint?: string, domainHint?: string }".into(),
                )
            })?
        };
        let prompt = match opts.prompt.as_deref() {
            Some(p) => Some(
                Prompt::parse(p).ok_or_else(|| WebError::Configuration(["invalid prompt \"", p, "\": use login, consent, select_account or none"].concat()))?,
            ),
            None => None,
        };
        let return_to = match &opts.return_to {
            Some(path) => ReturnTo::parse(path)?,
            None => redirect::current_path(),
        };
        let timeout_ms = match opts.timeout_ms {
            None => DEFAULT_TIMEOUT_MS,
            Some(ms) if ms >= 1.0 => ms.min(f64::from(u32::MAX)) as u32,
            Some(_) => return Err(WebError::Configuration("invalid timeoutMs: use a positive number of milliseconds".into())),
        };
        let key = inner.edge.key();
        if opts.mode != Mode::Redirect {
            if let Some(joined) = popup::reuse(&key) {
                return Ok(joined);
            }
            popup::ensure_no_other_tab(&key, inner.edge.connector())?;
        }
        let hints = Hints { prompt, login_hint: opts.login_hint.as_deref(), domain_hint: opts.domain_hint.as_deref() };
        let auth = auth_code::begin(&inner.info, &inner.redirect_uri, &hints)?;
        if opts.mode != Mode::Redirect {
            if let Some(window) = popup::open(&auth.url) {
                let watch = Watch::start(&key, window, &auth.state, timeout_ms)?;
                let id = watch.id();
                let inner = inner.clone();
                let connected = promise(async move {
                    let params = watch.params().await?;
                    let issuer = inner.info.issuer.as_deref();
                    let response = auth_code::finish(&inner.edge, &params, &auth.state, auth.verifier, &inner.redirect_uri, issuer).await?;
                    let token = inner.cache.store(response);
                    Ok(to_js(&Status { connected: true, account: token.account }))
                });
                popup::share(id, &connected);
                return Ok(connected);
            }
            if opts.mode == Mode::Popup {
                return Err(WebError::PopupBlocked);
            }
        }
        redirect::start(&inner.edge, auth, &inner.redirect_uri, inner.info.issuer.as_deref(), return_to)?;
        // The page is leaving for the provider: nothing will settle this.
        Ok(Promise::new(&mut |_, _| {}))
    }
}

impl Inner {
    async fn load(options: JsValue) -> Result<Inner, WebError> {
        if options.is_undefined() || options.is_null() {
            return Err(WebError::Configuration("Connector.load needs { edge, connector }".into()));
        }
        let opts: ConnectorOptions = de::from_js(options).map_err(|_| {
            WebError::Configuration(
                "invalid ConnectorOptions: expected { edge: string, connector: string, redirectUri?: string, refreshMarginMs?: number }".into(),
            )
        })?;
        let page = window().location().href().expect_throw("unreachable: a document's own location is readable");
        let edge = web_sys::Url::new_with_base(&opts.edge, &page).map_err(|_| WebError::Configuration(["invalid edge URL \"", &opts.edge, "\""].concat()))?;
        let edge = EdgeClient::new(&edge.href(), &opts.connector);
        let info = edge.connector_info().await?;
        // The edge is trusted, but nothing it sends may make this page navigate to script.
        let authorize = web_sys::Url::new(&info.authorize_url).ok();
        let allowed = authorize
            .is_some_and(|u| u.protocol() == "https:" || (u.protocol() == "http:" && matches!(u.hostname().as_str(), "localhost" | "127.0.0.1" | "[::1]")));
        if !allowed {
            return Err(WebError::Configuration(["the edge's authorize URL is not https:// (or http:// on localhost): ", &info.authorize_url].concat()));
        }
        let redirect_uri = match opts.redirect_uri {
            Some(uri) if info.redirect_uris.contains(&uri) => uri,
            Some(uri) => {
                return Err(WebError::Configuration(
                    [&uri, " is not a redirect URI the edge accepts for ", &info.id, ": ", &info.redirect_uris.join(", ")].concat(),
                ))
            }
            None => info.redirect_uris.first().cloned().ok_or_else(|| WebError::Configuration(["the edge has no redirect URI for ", &info.id].concat()))?,
        };
        // The callback page talks to this page through same-origin channels only.
        let here = origin();
        if web_sys::Url::new(&redirect_uri).map(|u| u.origin()).ok().as_deref() != Some(here.as_str()) {
            return Err(WebError::Configuration(
                ["redirect URI ", &redirect_uri, " is not on this page's origin ", &here, ": serve the callback page from the app's origin"].concat(),
            ));
        }
        let margin = opts.refresh_margin_ms.unwrap_or(DEFAULT_MARGIN_MS).max(0.0);
        let cache = TokenCache::new(edge.clone(), margin)?;
        Ok(Inner { edge, info, redirect_uri, cache })
    }
}

/// The redirect URI's page: finishes a sign-in. In a popup it hands the response to the app's
/// window and closes; after a redirect it has the edge redeem the code, then returns to the
/// page the user left. Either way the code is removed from the address bar and history first.
#[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<void>")]
pub fn handle_callback() -> Promise {
    match auth_code::take_response() {
        Ok(response) => promise(async { auth_code::handle_response(response).await.map(|()| JsValue::UNDEFINED) }),
        Err(e) => Promise::reject(&e.into()),
    }
}
