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
//!
//! # Two halves
//! Waiting is JavaScript's strength and costs Rust most of its size (futures, closures, serde,
//! formatting), so the module is split:
//! - `js/mailconnect.js`, shipped as a wasm-bindgen snippet and re-exported by `mailconnect.js`,
//!   is the public API and all browser plumbing: `fetch` to the edge, the popup watcher and its
//!   timers, BroadcastChannel, Web Locks, storage, promises.
//! - This crate is the security-relevant half, synchronous and pure: state and PKCE (SHA-256, so
//!   `connect()` opens its popup inside the click), the authorize URL, the callback's `state` and
//!   `iss` checks, `returnTo` validation and the classification of provider errors, all from
//!   `mailconnect_core`. [`Core`] hands it to the snippet when the module is instantiated.
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

#[cfg(feature = "rust-api")]
mod rust_api;
#[cfg(feature = "rust-api")]
pub use rust_api::{handle_callback, Connector};

use mailconnect_core::{Aadsts, AuthorizationRequest, Callback, CoreError, PkceVerifier, Prompt, ReturnTo, State};
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

/**
 * One connector of one edge: sign-in, tokens, status, disconnect. `free()` stops listening to
 * the other tabs.
 */
export class Connector {
  private constructor();
  free(): void;
  [Symbol.dispose](): void;
  /**
   * An access token valid for at least the refresh margin: from memory, from another tab, or
   * refreshed by the edge (one refresh for all tabs of this origin).
   */
  accessToken(): Promise<TokenInfo>;
  /**
   * Signs in, in a popup or by redirect, and resolves with the account once the edge holds
   * the tokens. Not `async` on purpose: the popup opens before this returns, inside the
   * click's task, so no blocker refuses it. A second call while this tab's popup is open
   * focuses it and returns the same promise.
   */
  connect(options?: ConnectOptions): Promise<Status>;
  /**
   * Ends the edge session's grant for this connector and clears the token in every tab.
   */
  disconnect(): Promise<void>;
  /**
   * Fetches the connector's public settings from the edge.
   */
  static load(options: ConnectorOptions): Promise<Connector>;
  /**
   * Whether the edge session holds tokens for this connector, and for whom.
   */
  status(): Promise<Status>;
}

/**
 * The redirect URI's page: finishes a sign-in. In a popup it hands the response to the app's
 * window and closes; after a redirect it has the edge redeem the code, then returns to the
 * page the user left. Either way the code is removed from the address bar and history first.
 */
export function handleCallback(): Promise<void>;
"#;

#[wasm_bindgen(module = "/js/mailconnect.js")]
extern "C" {
    /// Gives the snippet the Rust half (see [`start`]).
    fn bind(core: Core);

    /// A `MailconnectError` for a core error.
    #[wasm_bindgen(js_name = coreError)]
    fn core_error(message: &str, code: &str, action: &str, error_codes: &[u32]) -> JsValue;

    // The public API, re-exported by `mailconnect.js`. Imported as functions because only functions
    // can skip wasm-bindgen's TypeScript (a type would be declared `let X: unknown`, clashing with
    // the declarations of the TypeScript section above).
    #[wasm_bindgen(js_name = MailconnectError, reexport, skip_typescript)]
    fn error_class();
    #[wasm_bindgen(js_name = Connector, reexport, skip_typescript)]
    fn connector_class();
    #[wasm_bindgen(js_name = handleCallback, reexport, skip_typescript)]
    fn handle_callback_function();
}

/// Talc instead of std's dlmalloc: maintained, made for wasm, and several KB smaller. The module
/// allocates only strings, briefly, within each call.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Runs when the module is instantiated (`init()`), before any export can be called.
#[wasm_bindgen(start, private)]
pub(crate) fn start() {
    bind(Core);
}

/// The Rust half of the module, called by `js/mailconnect.js` only: hidden from the package's
/// exports and types. Its functions are static (no instance to check on each call): [`start`]
/// hands the snippet an instance only for its class. Every function is synchronous; errors are
/// thrown as `MailconnectError`s.
#[wasm_bindgen(private, skip_typescript)]
#[derive(Debug)]
pub struct Core;

#[wasm_bindgen]
impl Core {
    /// A fresh sign-in from 48 bytes of `crypto.getRandomValues` (16 for the state, 32 for the
    /// PKCE verifier): `"{state} {verifier} {authorize URL}"` (none of them can hold a space: the
    /// first two are base64url, the URL is form-encoded; one string is less glue than an array). Synchronous on purpose: it runs between
    /// the click and `window.open`. `prompt` is the caller's (checked by the snippet) or the
    /// connector's; an unknown configured prompt is left out rather than sent for the provider
    /// to reject.
    #[allow(clippy::too_many_arguments)]
    pub fn authorize(
        random: &[u8],
        authorize_url: &str,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        prompt: Option<String>,
        login_hint: Option<String>,
        domain_hint: Option<String>,
    ) -> String {
        let Some((state, verifier)) = random.split_first_chunk::<16>().and_then(|(s, v)| Some((s, <&[u8; 32]>::try_from(v).ok()?))) else {
            wasm_bindgen::throw_str("authorize needs 48 random bytes");
        };
        let state = State::from_random(state);
        let verifier = PkceVerifier::from_random(verifier);
        let mut request = AuthorizationRequest::new(authorize_url, client_id, redirect_uri, scope, &state, &verifier);
        if let Some(prompt) = prompt.as_deref().and_then(Prompt::parse) {
            request = request.with_prompt(prompt);
        }
        if let Some(hint) = login_hint.as_deref() {
            request = request.with_login_hint(hint);
        }
        if let Some(hint) = domain_hint.as_deref() {
            request = request.with_domain_hint(hint);
        }
        let mut out = String::from(state.expose());
        for part in [verifier.expose(), &request.url()] {
            out.push(' ');
            out.push_str(part);
        }
        out
    }

    /// Whether `params` (a `?query` or `#fragment`) is an authorization response.
    #[wasm_bindgen(js_name = isCallback)]
    pub fn is_callback(params: &str) -> bool {
        Callback::parse(params).is_some()
    }

    /// The `state` of the response `params`; `state_mismatch` when it has none.
    #[wasm_bindgen(js_name = callbackState)]
    pub fn callback_state(params: &str) -> Result<String, JsValue> {
        Callback::parse(params).and_then(|cb| cb.state().map(str::to_owned)).ok_or_else(|| error(&CoreError::StateMismatch))
    }

    /// The authorization code of the response `params`, after core's `Callback::verify` checked
    /// its `state` (in constant time) and `iss`; the provider's error, classified, if it sent
    /// one. Checks the stored `verifier` first (a redirect's comes from sessionStorage, which any
    /// script of the origin can write).
    ///
    /// # Security
    /// The response is attacker-controlled input: nothing of it is used before this passes.
    pub fn verify(params: &str, state: &str, issuer: Option<String>, verifier: &str) -> Result<String, JsValue> {
        PkceVerifier::parse(verifier).map_err(|e| error(&e))?;
        // The snippet asks `isCallback` first; anything else has no state, so it cannot match.
        let callback = Callback::parse(params).unwrap_or_default();
        let code = callback.verify(&State::new(state), issuer.as_deref()).map_err(|e| error(&e))?;
        Ok(code.expose().to_owned())
    }

    /// `target` if it is a path on this site (core's `ReturnTo`: no open redirect), else
    /// `invalid_return_to`.
    #[wasm_bindgen(js_name = returnTo)]
    pub fn return_to(target: &str) -> Result<String, JsValue> {
        ReturnTo::parse(target).map(|to| to.as_str().to_owned()).map_err(|e| error(&e))
    }
}

/// The `MailconnectError` for a core error.
fn error(e: &CoreError) -> JsValue {
    let codes: &[u32] = match e {
        CoreError::OAuth(oauth) => &oauth.codes,
        _ => &[],
    };
    core_error(message(e), e.code(), e.action().as_str(), codes)
}

/// Words for the core errors a browser meets. Not core's `Display`: its `{:?}` quoting would
/// link Debug escaping into the module for errors (tenants, scopes, URLs) only the edge sees.
fn message(e: &CoreError) -> &str {
    match e {
        CoreError::StateMismatch => "the sign-in response does not belong to a sign-in of this page (state mismatch): connect again",
        CoreError::IssuerMismatch { .. } => "the sign-in response came from an unexpected identity provider (issuer mismatch): connect again",
        CoreError::MissingCode => "the sign-in response carries no authorization code: connect again",
        CoreError::InvalidVerifier => "the stored sign-in request is damaged: connect again",
        CoreError::InvalidReturnTo => "returnTo must be a path on this site, starting with a single /",
        // The AADSTS hint says what to do; Entra's description says what happened.
        CoreError::OAuth(oauth) => oauth.aadsts().and_then(Aadsts::hint).or(oauth.description.as_deref()).unwrap_or_else(|| oauth.error.as_str()),
        other => other.code(),
    }
}
