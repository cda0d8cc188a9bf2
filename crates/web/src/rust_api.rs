//! The JavaScript API as Rust sees it, for Rust callers: the browser tests (tests/web.rs) drive
//! the module through exactly the calls a page makes. Behind the `rust-api` feature because its
//! dependencies (js-sys, wasm-bindgen-futures) would otherwise be linked into the package's wasm.

use js_sys::Promise;
use std::sync::Once;
use wasm_bindgen::prelude::*;

/// Binds the Rust half into the snippet, as `start` does when a page instantiates the package
/// (wasm-bindgen-test does not run start functions).
fn bind_once() {
    static BIND: Once = Once::new();
    BIND.call_once(crate::start);
}

impl Connector {
    /// Fetches the connector's public settings from the edge.
    pub async fn load(options: JsValue) -> Result<Connector, JsValue> {
        bind_once();
        Connector::load_js(options).await
    }
}

/// The redirect URI's page: finishes a sign-in (`handleCallback`).
pub fn handle_callback() -> Promise {
    bind_once();
    handle_callback_js()
}

#[wasm_bindgen(module = "/js/mailconnect.js")]
extern "C" {
    /// One connector of one edge: `Connector` of `js/mailconnect.js`.
    #[derive(Debug)]
    pub type Connector;

    #[wasm_bindgen(catch, static_method_of = Connector, js_name = load)]
    async fn load_js(options: JsValue) -> Result<Connector, JsValue>;

    /// Signs in, in a popup or by redirect; resolves with the `Status` once the edge holds the
    /// tokens. The popup opens before this returns.
    #[wasm_bindgen(method)]
    pub fn connect(this: &Connector, options: Option<JsValue>) -> Promise;

    /// A `TokenInfo` valid for at least the refresh margin.
    #[wasm_bindgen(method, js_name = accessToken)]
    pub fn access_token(this: &Connector) -> Promise;

    /// Whether the edge session holds tokens for this connector, and for whom.
    #[wasm_bindgen(method)]
    pub fn status(this: &Connector) -> Promise;

    /// Ends the edge session's grant for this connector and clears the token in every tab.
    #[wasm_bindgen(method)]
    pub fn disconnect(this: &Connector) -> Promise;

    /// Stops listening to the other tabs.
    #[wasm_bindgen(method)]
    pub fn free(this: &Connector);

    #[wasm_bindgen(js_name = handleCallback)]
    fn handle_callback_js() -> Promise;
}
