//! mailconnect for the browser: connect a webmail to Microsoft 365 (or any OAuth provider the
//! edge knows) in a popup or by redirect, get fresh access tokens from the mailconnect edge, and
//! route links from other apps into the webmail.
//!
//! The module talks only to the edge's HTTP API (`mailconnect_core::contract`) and to the
//! provider's authorize page; refresh tokens never reach the browser. Everything is Rust over
//! web-sys and js-sys; the only hand-written JavaScript is `js/error.js`, the `MailconnectError`
//! class (an `Error` subclass, which a Rust export cannot be).
//!
//! ```js
//! import init, { Connector, MailconnectError } from "/pkg/mailconnect.js";
//! await init();
//! const teams = await Connector.load({ edge: location.origin + "/oauth", connector: "teams" });
//! button.onclick = () => teams.connect({ mode: "auto" }).then((s) => render(s.account), showError);
//! teams.addEventListener("change", (e) => render(e.detail.account)); // any tab connected or disconnected
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
//!
//! This file holds the exports and their TypeScript only; each flow has its module: `popup`,
//! `redirect`, `callback`, `cache` (tokens across tabs, the change event), `session` (binding to
//! the webmail's user, the end), `edge_client`, `links`.
// The package (feature `abort-on-panic`, scripts/build-web.sh) links no std: std's panic handler
// formats every panic's message and location, which links Rust's formatting code into the wasm
// for messages nobody reads; the handler below aborts instead. Other builds (tests, clippy) link
// std and its handler, so the code uses `core` and `alloc` only.
#![cfg_attr(feature = "abort-on-panic", no_std)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

extern crate alloc;

/// What std's prelude gives a module, from `alloc`.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::String;
    pub(crate) use alloc::vec::Vec;
}

mod browser;
mod cache;
mod callback;
mod edge_client;
mod error;
mod links;
mod popup;
mod redirect;
mod session;

use alloc::rc::Rc;
use browser::{absent, get, only_keys, window};
use cache::{status_js, Tokens};
use edge_client::Edge;
use error::{concat, fail, misconfigured, refused, Code};
use js_sys::{Function, Promise};
use mailconnect_core::contract::ConnectorInfo;
use mailconnect_core::{AuthorizationRequest, Endpoint, PkceVerifier, Prompt, ReturnTo, State};
use prelude::*;
use wasm_bindgen::prelude::*;

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
   * `state_mismatch`, `issuer_mismatch`, `missing_issuer`, `redirect_uri_mismatch`,
   * `pending_mismatch`, `missing_code`, `invalid_return_to`, `browser_unsupported`,
   * `ticket_unavailable`, `session_changed`, `invalid_message_link`, `invalid_mailto`, or an OAuth error from the
   * provider (`access_denied`, `consent_required`, ...).
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
  /**
   * Where the edge binds sessions to the webmail's users (`USER_TICKET_KEYS`): a fresh ticket for
   * the signed-in user from the webmail's back end. Called when the edge answers
   * `ticket_required`; the module binds the session with it and tries the request once more.
   */
  ticket?: () => Promise<string>;
}

export interface EndSessionOptions {
  /** The edge's URL with its `/oauth` prefix, as given to `Connector.load`. */
  edge: string;
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

export interface CallbackOptions {
  /**
   * The edge's URL with its `/oauth` prefix, as given to `Connector.load` (default:
   * `location.origin + "/oauth"`). A redirect sign-in finishes only at this edge.
   */
  edge?: string;
}

/** What `handleCallback()` resolves with on the return from a connector's admin-consent URL. */
export interface AdminConsent {
  adminConsent: true;
  /** The tenant whose admin granted consent. */
  tenant?: string;
}

/**
 * One message: by IMAP folder and UID (valid while the folder's UIDVALIDITY is unchanged), or by
 * its Message-ID header without angle brackets.
 */
export type MessageLink = { folder: string; uidvalidity: number; uid: number } | { messageId: string };

/** A message to compose. */
export interface Compose {
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  body: string;
  inReplyTo?: string;
}
"#;

/// Talc instead of std's dlmalloc: maintained, made for wasm, and several KB smaller. The module
/// allocates strings and small records, briefly, within each call.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// A panic is a bug: stop at once, as `panic = "abort"` would, without formatting a message. The
/// browser reports a wasm `unreachable` trap with its stack.
#[cfg(all(target_family = "wasm", feature = "abort-on-panic"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

const DEFAULT_MARGIN_MS: f64 = 60_000.0;
const DEFAULT_TIMEOUT_MS: f64 = 5.0 * 60.0 * 1000.0;

/// One connector of one edge: sign-in, tokens, status, disconnect, and a `change` event from
/// every tab. `free()` stops listening to the other tabs.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Connector {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    edge: Edge,
    info: ConnectorInfo,
    redirect_uri: String,
    tokens: Tokens,
}

/// How `connect()` signs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Popup,
    Redirect,
    Auto,
}

#[wasm_bindgen]
impl Connector {
    /// Fetches the connector's public settings from the edge and checks them: the redirect URI
    /// must be on this page's origin, the authorize URL `https://` (or `http://` on localhost).
    #[wasm_bindgen(js_name = load, unchecked_return_type = "Promise<Connector>")]
    pub fn load_js(#[wasm_bindgen(unchecked_param_type = "ConnectorOptions")] options: JsValue) -> Promise {
        // Not an `async fn` export: through `browser::promise`, so it shares the other exports'
        // executor glue instead of instantiating its own.
        crate::browser::promise(async move { Connector::load(options).await.map(JsValue::from) })
    }

    /// Signs in, in a popup or by redirect, and resolves with the account once the edge holds
    /// the tokens. Not `async` on purpose: the popup opens before this returns, inside the
    /// click's task, so no blocker refuses it. A second call while this tab's popup is open
    /// focuses it and returns the same promise.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn connect(&self, #[wasm_bindgen(unchecked_optional_param_type = "ConnectOptions")] options: Option<JsValue>) -> Promise {
        self.start(options.unwrap_or(JsValue::UNDEFINED)).unwrap_or_else(|e| Promise::reject(&e))
    }

    /// An access token valid for at least the refresh margin: from memory, from another tab, or
    /// refreshed by the edge (one refresh for all tabs of this origin).
    #[wasm_bindgen(js_name = accessToken, unchecked_return_type = "Promise<TokenInfo>")]
    pub fn access_token(&self) -> Promise {
        let inner = self.inner.clone();
        crate::browser::promise(async move {
            if let Some(token) = inner.tokens.current() {
                return Ok(token);
            }
            let name = concat(&["mailconnect:", &inner.edge.key()]);
            cache::with_lock(&name, move || async move {
                if let Some(token) = inner.tokens.current() {
                    return Ok(token);
                }
                match inner.edge.refresh().await {
                    Ok(response) => Ok(inner.tokens.store(&response, false)),
                    Err(e) => {
                        // The edge says the grant is gone: every tab learns it is disconnected.
                        if get(&e, "action").as_string().as_deref() == Some("reconnect") {
                            inner.tokens.forget();
                        }
                        Err(e)
                    }
                }
            })
            .await
        })
    }

    /// Whether the edge session holds tokens for this connector, and for whom.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn status(&self) -> Promise {
        let inner = self.inner.clone();
        crate::browser::promise(async move {
            let session = inner.edge.session().await?;
            let connection = session.connectors.iter().find(|c| c.id == inner.edge.connector);
            Ok(connection.map_or_else(|| status_js(false, None), |c| status_js(true, c.account.as_ref())))
        })
    }

    /// Ends the edge session's grant for this connector and clears the token in every tab, which
    /// each get a `change` event.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disconnect(&self) -> Promise {
        let inner = self.inner.clone();
        crate::browser::promise(async move {
            inner.edge.disconnect().await?;
            inner.tokens.forget();
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Calls `listener` with a `CustomEvent` whose `detail` is the new `Status` whenever a tab of
    /// this origin (this one included) connects or disconnects this connector, or the edge
    /// answers a refresh with the grant gone (`action: "reconnect"`).
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "\"change\"")] kind: &str,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent<Status>) => void")] listener: &Function,
    ) {
        let _ = self.inner.tokens.events().add_event_listener_with_callback(kind, listener);
    }

    /// Removes a listener added with `addEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "\"change\"")] kind: &str,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent<Status>) => void")] listener: &Function,
    ) {
        let _ = self.inner.tokens.events().remove_event_listener_with_callback(kind, listener);
    }
}

impl Connector {
    /// `Connector.load`, for Rust callers (the browser tests).
    pub async fn load(options: JsValue) -> Result<Connector, JsValue> {
        if absent(&options) {
            return Err(misconfigured("Connector.load needs { edge, connector }"));
        }
        let invalid = || {
            misconfigured(
                "invalid ConnectorOptions: expected { edge: string, connector: string, redirectUri?: string, refreshMarginMs?: number, ticket?: () => Promise<string> }",
            )
        };
        if !only_keys(&options, &["edge", "connector", "redirectUri", "refreshMarginMs", "ticket"]) {
            return Err(invalid());
        }
        let (edge, connector) = (get(&options, "edge"), get(&options, "connector"));
        let (redirect_uri, margin, ticket) = (get(&options, "redirectUri"), get(&options, "refreshMarginMs"), get(&options, "ticket"));
        let (Some(edge), Some(connector)) = (edge.as_string(), connector.as_string()) else { return Err(invalid()) };
        if !(absent(&redirect_uri) || redirect_uri.is_string()) || !(absent(&margin) || margin.as_f64().is_some()) || !(absent(&ticket) || ticket.is_function())
        {
            return Err(invalid());
        }
        let edge = Edge::resolve(&edge, &connector)?.with_ticket(ticket.dyn_into().ok());
        let info = edge.info().await?;
        // The edge is trusted, but nothing it sends may make this page navigate to script: core's
        // rule for endpoints (https, or http on loopback), on the URL before its query or fragment.
        let authorize = info.authorize_url.split(['?', '#']).next().unwrap_or_default();
        if Endpoint::parse(authorize).is_err() {
            return Err(misconfigured(&concat(&["the edge's authorize URL is not https:// (or http:// on localhost): ", &info.authorize_url])));
        }
        let redirect_uri = match redirect_uri.as_string() {
            Some(uri) if !info.redirect_uris.contains(&uri) => {
                let mut accepted = String::new();
                for (i, accept) in info.redirect_uris.iter().enumerate() {
                    accepted.push_str(if i == 0 { "" } else { ", " });
                    accepted.push_str(accept);
                }
                return Err(misconfigured(&concat(&[&uri, " is not a redirect URI the edge accepts for ", &info.id, ": ", &accepted])));
            }
            Some(uri) => uri,
            None => info.redirect_uris.first().cloned().ok_or_else(|| misconfigured(&concat(&["the edge has no redirect URI for ", &info.id])))?,
        };
        // The callback page talks to this page through same-origin channels only.
        let origin = browser::origin();
        if browser::origin_of(&redirect_uri).as_deref() != Some(origin.as_str()) {
            return Err(misconfigured(&concat(&[
                "redirect URI ",
                &redirect_uri,
                " is not on this page's origin ",
                &origin,
                ": serve the callback page from the app's origin",
            ])));
        }
        // `max` also turns NaN into 0.
        let margin = margin.as_f64().unwrap_or(DEFAULT_MARGIN_MS).max(0.0);
        let tokens = Tokens::new(&edge, margin)?;
        Ok(Connector { inner: Rc::new(Inner { edge, info, redirect_uri, tokens }) })
    }

    /// `connect()` up to the popup or the redirect. Everything here is synchronous.
    fn start(&self, options: JsValue) -> Result<Promise, JsValue> {
        let invalid = || {
            misconfigured(
                "invalid ConnectOptions: expected { mode?: \"popup\" | \"redirect\" | \"auto\", timeoutMs?: number, returnTo?: string, prompt?: string, loginHint?: string, domainHint?: string }",
            )
        };
        let options = if absent(&options) { js_sys::Object::new().into() } else { options };
        if !only_keys(&options, &["mode", "timeoutMs", "returnTo", "prompt", "loginHint", "domainHint"]) {
            return Err(invalid());
        }
        let text = |key| {
            let v = get(&options, key);
            if absent(&v) {
                Ok(None)
            } else {
                v.as_string().map(Some).ok_or_else(invalid)
            }
        };
        let (mode, return_to, prompt, login_hint, domain_hint) = (text("mode")?, text("returnTo")?, text("prompt")?, text("loginHint")?, text("domainHint")?);
        let timeout = get(&options, "timeoutMs");
        if !(absent(&timeout) || timeout.as_f64().is_some()) {
            return Err(invalid());
        }
        let mode = match mode.as_deref() {
            None | Some("auto") => Mode::Auto,
            Some("popup") => Mode::Popup,
            Some("redirect") => Mode::Redirect,
            Some(_) => return Err(invalid()),
        };
        let prompt = match prompt {
            Some(p) => {
                Some(Prompt::parse(&p).ok_or_else(|| misconfigured(&concat(&["invalid prompt \"", &p, "\": use login, consent, select_account or none"])))?)
            }
            // An unknown configured prompt is left out rather than sent for the provider to reject.
            None => self.inner.info.prompt.as_deref().and_then(Prompt::parse),
        };
        let return_to = match return_to {
            Some(target) => ReturnTo::parse(&target).map_err(|e| error::core_error(&e))?,
            None => here(),
        };
        let timeout_ms = timeout.as_f64().unwrap_or(DEFAULT_TIMEOUT_MS);
        // NaN too.
        if timeout_ms.partial_cmp(&1.0).is_none_or(|o| o.is_lt()) {
            return Err(misconfigured("invalid timeoutMs: use a positive number of milliseconds"));
        }
        // Whole milliseconds (`as` rounds toward zero; `floor` is std's).
        let timeout_ms = f64::from(timeout_ms.min(u32::MAX as f64) as u32);

        let inner = &self.inner;
        let key = inner.edge.key();
        if mode != Mode::Redirect {
            if let Some(joined) = popup::reuse(&key) {
                return Ok(joined);
            }
            if popup::busy_elsewhere(&key) {
                let message =
                    concat(&["another tab is already signing in to ", &inner.edge.connector, ": finish or close that sign-in window, then try again"]);
                return Err(fail(Code::InteractionInProgress, &message));
            }
        }
        let mut random = [0u8; 48];
        let crypto = window().crypto().map_err(|_| refused("crypto.getRandomValues"))?;
        crypto.get_random_values_with_u8_array(&mut random).map_err(|_| refused("crypto.getRandomValues"))?;
        let (state, verifier) = random.split_at(16);
        let state = State::from_random(state.try_into().unwrap_throw());
        let verifier = PkceVerifier::from_random(verifier.try_into().unwrap_throw());
        let info = &inner.info;
        let mut request = AuthorizationRequest::new(&info.authorize_url, &info.client_id, &inner.redirect_uri, &info.scope, &state, &verifier);
        if let Some(prompt) = prompt {
            request = request.with_prompt(prompt);
        }
        if let Some(hint) = login_hint.as_deref() {
            request = request.with_login_hint(hint);
        }
        if let Some(hint) = domain_hint.as_deref().or(info.domain_hint.as_deref()) {
            request = request.with_domain_hint(hint);
        }
        let url = request.url();
        let (state, verifier) = (state.expose().to_owned(), verifier.expose().to_owned());

        if mode != Mode::Redirect {
            if let Some(window) = popup::open(&url) {
                let inner = self.inner.clone();
                let expected = state.clone();
                return popup::watch(key, window, state, timeout_ms, move |params, reached| async move {
                    let code = callback::verify(&params, &expected, &inner.info, &inner.redirect_uri, &reached, &verifier)?;
                    let token = inner.edge.exchange(&code, &verifier, &inner.redirect_uri).await?;
                    inner.tokens.store(&token, true);
                    Ok(status_js(true, token.account.as_ref()))
                });
            }
            if mode == Mode::Popup {
                return Err(fail(Code::PopupBlocked, "the browser blocked the sign-in window: allow pop-ups for this site, or connect with mode \"redirect\""));
            }
        }
        let pending = redirect::PendingRedirect {
            edge: inner.edge.base.clone(),
            connector: inner.edge.connector.clone(),
            verifier,
            redirect_uri: inner.redirect_uri.clone(),
            issuer: info.issuer.clone(),
            return_to: return_to.as_str().to_owned(),
        };
        redirect::start(&state, &pending, &url)?;
        // The page is leaving for the provider: nothing will settle this.
        Ok(Promise::new(&mut |_, _| {}))
    }
}

/// Signs this browser out of the edge: every tab of this origin forgets the tokens of that edge
/// (each `Connector` fires `change` with `connected: false`), then the edge forgets the
/// browser's session (with user binding, it unbinds this browser only). Call it when the user
/// signs out of the webmail, before the back end's own sign-out.
#[wasm_bindgen(js_name = endSession, unchecked_return_type = "Promise<void>")]
pub fn end_session(#[wasm_bindgen(unchecked_param_type = "EndSessionOptions")] options: JsValue) -> Promise {
    crate::browser::promise(async move {
        let edge = get(&options, "edge").as_string().filter(|_| only_keys(&options, &["edge"]));
        let edge = edge.ok_or_else(|| misconfigured("invalid EndSessionOptions: expected { edge: string }"))?;
        session::end(&edge_client::base_url(&edge)?).await?;
        Ok(JsValue::UNDEFINED)
    })
}

/// This page's path, query and fragment, the default `returnTo`; a too-long address falls back
/// to the path, then to the root.
fn here() -> ReturnTo {
    let location = window().location();
    let path = location.pathname().unwrap_or_default();
    let full = concat(&[&path, &location.search().unwrap_or_default(), &location.hash().unwrap_or_default()]);
    ReturnTo::parse(&full).or_else(|_| ReturnTo::parse(&path)).or_else(|_| ReturnTo::parse("/")).unwrap_throw()
}

/// The redirect URI's page: finishes a sign-in. In a popup it hands the response to the app's
/// window and closes; after a redirect it has the edge redeem the code, then returns to the
/// page the user left. Either way the code is removed from the address bar and history first.
/// On the return from a connector's admin-consent URL it resolves with `{adminConsent: true,
/// tenant}` (or rejects with the provider's error, e.g. an admin who declined). `options.edge` is
/// the edge given to `Connector.load` (default `location.origin + "/oauth"`): a redirect sign-in
/// is finished only there.
#[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<void | AdminConsent>")]
pub fn handle_callback(#[wasm_bindgen(unchecked_optional_param_type = "CallbackOptions")] options: Option<JsValue>) -> Promise {
    callback::handle(&options.unwrap_or(JsValue::UNDEFINED)).unwrap_or_else(|e| Promise::reject(&e))
}

/// The message a link opens. `base` is the webmail's address for message links, e.g.
/// `"https://mail.example.com/webmail/"`; the link is `{base}?folder=…&uidvalidity=…&uid=…`,
/// `{base}?mid=…`, or an RFC 2392 `mid:` URL. Throws `invalid_message_link` for anything else:
/// what it returns never names another origin.
#[wasm_bindgen(js_name = parseMessageLink, unchecked_return_type = "MessageLink")]
pub fn parse_message_link(input: &str, #[wasm_bindgen(unchecked_param_type = "string")] base: JsValue) -> Result<JsValue, JsValue> {
    links::parse(input, &base)
}

/// The URL under `base` that opens `link` (what `mailconnect message-link` prints).
#[wasm_bindgen(js_name = messageLinkUrl)]
pub fn message_link_url(
    #[wasm_bindgen(unchecked_param_type = "MessageLink")] link: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] base: JsValue,
) -> Result<String, JsValue> {
    links::url(&link, &base)
}

/// The message this page's address links to, or `undefined` when it is no message link. Throws
/// `invalid_message_link` for a damaged one. Call it on load: after a sign-in by redirect the
/// page comes back to the same address, so the link is routed again.
#[wasm_bindgen(js_name = linkedMessage, unchecked_return_type = "MessageLink | undefined")]
pub fn linked_message(#[wasm_bindgen(unchecked_param_type = "string")] base: JsValue) -> Result<JsValue, JsValue> {
    links::linked(&base)
}

/// A `mailto:` URL (RFC 6068); headers other than to, cc, bcc, subject, body and in-reply-to are
/// dropped. Throws `invalid_mailto` for anything else.
#[wasm_bindgen(js_name = parseMailto, unchecked_return_type = "Compose")]
pub fn parse_mailto(url: &str) -> Result<JsValue, JsValue> {
    links::parse_mailto(url)
}

/// Asks the browser to open `mailto:` links here. `template` is a URL of this origin with `%s`
/// where the browser puts the percent-encoded mailto: URL, e.g. `"/?compose=%s"`. The browser
/// asks the user, and does not say what they chose.
#[wasm_bindgen(js_name = registerMailtoHandler)]
pub fn register_mailto_handler(template: &str) -> Result<(), JsValue> {
    links::register_mailto_handler(template)
}
