//! The module in a real browser, through its JavaScript-facing API. Only the edge (`fetch`) and
//! the provider's popup (`window.open`) are doubles (tests/support/fakes.js); BroadcastChannel,
//! Web Locks, storage, history and message events are the browser's own.
#![cfg(target_arch = "wasm32")]

use std::ops::Deref;

use js_sys::{Array, Promise, Reflect, JSON};
use mailconnect::{end_session, handle_callback, Connector};
use mailconnect_core::PkceVerifier;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/support/fakes.js")]
extern "C" {
    type Edge;
    #[wasm_bindgen(js_name = installEdge)]
    fn install_edge_double(routes: &JsValue) -> Edge;
    #[wasm_bindgen(method)]
    fn count(this: &Edge, key: &str) -> u32;
    #[wasm_bindgen(method)]
    fn last(this: &Edge, key: &str) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn routes(this: &Edge) -> JsValue;
    #[wasm_bindgen(method, setter, js_name = delayMs)]
    fn set_delay_ms(this: &Edge, ms: u32);
    #[wasm_bindgen(method, js_name = restore)]
    fn restore_fetch(this: &Edge);

    type Opener;
    #[wasm_bindgen(js_name = installOpen)]
    fn install_open_double(behaviour: &str) -> Opener;
    #[wasm_bindgen(method, getter)]
    fn calls(this: &Opener) -> Array;
    #[wasm_bindgen(method, getter)]
    fn popup(this: &Opener) -> JsValue;
    #[wasm_bindgen(method, js_name = restore)]
    fn restore_open(this: &Opener);

    fn param(url: &str, name: &str) -> Option<String>;
    fn s256(text: &str) -> Promise;
    fn sleep(ms: u32) -> Promise;
    #[wasm_bindgen(js_name = nextOfType)]
    fn next_of_type(channel: &str, kind: &str) -> Promise;
    #[wasm_bindgen(js_name = nextTokenMessage)]
    fn next_token_message(channel: &str) -> Promise;
    fn broadcast(channel: &str, data: &JsValue);
    #[wasm_bindgen(js_name = windowMessage)]
    fn window_message(data: &JsValue, origin: &str);
    fn settle(promise: &Promise) -> Promise;
    #[wasm_bindgen(js_name = isPending)]
    fn is_pending(promise: &Promise) -> Promise;
    #[wasm_bindgen(js_name = ticketSource)]
    fn ticket_source(values: Array) -> js_sys::Function;
}

/// A test double of the browser's: `restore` gives the browser its own function back.
trait Double {
    fn restore(&self);
}

impl Double for Edge {
    fn restore(&self) {
        self.restore_fetch();
    }
}

impl Double for Opener {
    fn restore(&self) {
        self.restore_open();
    }
}

/// A double installed until the end of the test that made it. A test that fails aborts before
/// dropping it (wasm has no unwinding), which is why fakes.js installs every double over the
/// browser's own function, never over a leftover.
#[must_use = "dropping the double restores the browser's own function at once"]
struct Installed<T: Double>(T);

impl<T: Double> Deref for Installed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Double> Drop for Installed<T> {
    fn drop(&mut self) {
        self.0.restore();
    }
}

/// `fetch` answered from `routes` ("METHOD /path" -> [status, body]).
fn install_edge(routes: &JsValue) -> Installed<Edge> {
    Installed(install_edge_double(routes))
}

/// `window.open` that "open"s a popup at the provider, hands out a "severed" one, or is "blocked".
fn install_open(behaviour: &str) -> Installed<Opener> {
    Installed(install_open_double(behaviour))
}

const AUTHORIZE: &str = "https://login.example.test/tenant/oauth2/v2.0/authorize";
const ISSUER: &str = "https://login.example.test/tenant/v2.0";
const TOKEN: &str = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"expires_at":1800000000,"scope":"User.Read","account":{"name":"Ann","username":"ann@contoso.com"}}"#;

fn origin() -> String {
    web_sys::window().unwrap().location().origin().unwrap()
}

fn json(text: &str) -> JsValue {
    JSON::parse(text).unwrap_or_else(|_| panic!("test JSON: {text}"))
}

fn get(value: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(value.clone(), |v, key| Reflect::get(&v, &key.into()).unwrap())
}

fn text(value: &JsValue, path: &str) -> String {
    get(value, path).as_string().unwrap_or_else(|| panic!("{path} is not a string in {}", JSON::stringify(value).unwrap()))
}

/// The edge of connector `id` answering every route successfully; `authorize` is its authorize URL.
fn edge_for(id: &str, authorize: &str) -> Installed<Edge> {
    edge_with(id, authorize, &format!("{}/callback.html", origin()), "")
}

/// [`edge_for`] with `redirect_uri` and more fields of `ConnectorInfo` (`extra`: `,"key":value…`).
fn edge_with(id: &str, authorize: &str, redirect_uri: &str, extra: &str) -> Installed<Edge> {
    install_edge(&json(&format!(
        r#"{{
        "GET /oauth/connectors/{id}": [200, {{"id":"{id}","authorize_url":"{authorize}","client_id":"client-1","scope":"openid offline_access User.Read","redirect_uris":["{redirect_uri}"],"prompt":"select_account","issuer":"{ISSUER}"{extra}}}],
        "POST /oauth/connectors/{id}/token": [200, {TOKEN}],
        "POST /oauth/connectors/{id}/refresh": [200, {TOKEN}],
        "POST /oauth/connectors/{id}/disconnect": [200, {{"status":"disconnected"}}],
        "GET /oauth/session": [200, {{"connectors":[{{"id":"{id}","account":{{"username":"ann@contoso.com","tid":"t-1"}}}}]}}]
        }}"#
    )))
}

fn edge(id: &str) -> Installed<Edge> {
    edge_for(id, AUTHORIZE)
}

fn set_route(edge: &Edge, key: &str, status: u16, body: &str) {
    let route = Array::of2(&status.into(), &body.into());
    Reflect::set(&edge.routes(), &key.into(), &route).unwrap();
}

async fn load_with(id: &str, extra: &str) -> Result<Connector, JsValue> {
    Connector::load(json(&format!(r#"{{"edge":"{}/oauth","connector":"{id}"{extra}}}"#, origin()))).await
}

async fn load(id: &str) -> Connector {
    load_with(id, "").await.expect("Connector.load")
}

async fn wait(promise: Promise) -> JsValue {
    JsFuture::from(promise).await.expect("promise resolves")
}

async fn outcome(promise: &Promise) -> Result<JsValue, JsValue> {
    let settled: Array = JsFuture::from(settle(promise)).await.unwrap().into();
    if settled.get(0) == "ok" {
        Ok(settled.get(1))
    } else {
        Err(settled.get(1))
    }
}

async fn rejection(promise: &Promise) -> JsValue {
    match outcome(promise).await {
        Ok(v) => panic!("expected a rejection, got {}", JSON::stringify(&v).map(String::from).unwrap_or_default()),
        Err(e) => e,
    }
}

/// A `MailconnectError` (an `Error` subclass) with this code and action.
fn assert_error(error: &JsValue, code: &str, action: &str) {
    assert!(error.is_instance_of::<js_sys::Error>(), "not an Error: {error:?}");
    assert_eq!(text(error, "name"), "MailconnectError");
    let constructor = get(&Reflect::get_prototype_of(error).unwrap().into(), "constructor");
    assert_eq!(text(&constructor, "name"), "MailconnectError");
    assert_eq!(text(error, "code"), code, "message: {}", text(error, "message"));
    assert_eq!(text(error, "action"), action);
    assert_eq!(get(error, "retryable").as_bool(), Some(action == "retry"));
    assert!(!text(error, "message").is_empty());
}

fn channel(state: &str) -> String {
    format!("mailconnect:{state}")
}

/// The callback page's message for a response that arrived at the connector's redirect URI.
fn callback_message(state: &str, params: &str) -> JsValue {
    callback_message_at(state, params, &format!("{}/callback.html", origin()))
}

fn callback_message_at(state: &str, params: &str, redirect_uri: &str) -> JsValue {
    let m = js_sys::Object::new();
    Reflect::set(&m, &"type".into(), &"mailconnect:callback".into()).unwrap();
    Reflect::set(&m, &"state".into(), &state.into()).unwrap();
    Reflect::set(&m, &"params".into(), &params.into()).unwrap();
    Reflect::set(&m, &"redirectUri".into(), &redirect_uri.into()).unwrap();
    m.into()
}

/// `iss` naming [`ISSUER`], as `&iss=…`.
fn iss() -> String {
    format!("&iss={}", js_sys::encode_uri_component(ISSUER))
}

fn connect(connector: &Connector, options: &str) -> Promise {
    connector.connect(Some(json(options)))
}

/// The authorize URL the last popup was opened with.
fn opened_url(opener: &Opener) -> String {
    text(&opener.calls().get(opener.calls().length() - 1), "url")
}

#[wasm_bindgen_test]
fn rfc7636_vector_hashes_to_its_challenge_in_wasm() {
    let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    assert_eq!(verifier.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[wasm_bindgen_test]
async fn load_asks_the_edge_with_the_session_cookie_and_the_csrf_header() {
    let edge = edge("load1");
    load("load1").await;
    let request = edge.last("GET /oauth/connectors/load1");
    assert_eq!(text(&request, "credentials"), "include");
    assert_eq!(text(&request, "cache"), "no-store");
    assert_eq!(text(&request, "headers.x-mailconnect"), "1");
    assert!(get(&request, "body").is_null());
}

#[wasm_bindgen_test]
async fn unreachable_edge_is_a_retryable_network_error() {
    let _edge = install_edge(&json("{}"));
    let error = load_with("nowhere", "").await.expect_err("rejects");
    assert_error(&error, "network_error", "retry");
    assert!(text(&error, "message").contains("/oauth/connectors/nowhere"));
}

#[wasm_bindgen_test]
async fn edge_error_body_becomes_the_error_with_its_action_and_aadsts_codes() {
    let edge = edge("err1");
    let teams = load("err1").await;
    set_route(
        &edge,
        "POST /oauth/connectors/err1/refresh",
        401,
        r#"{"error":"invalid_grant","error_description":"The refresh token expired: connect again.","action":"reconnect","retryable":false,"error_codes":[700082]}"#,
    );
    let error = rejection(&teams.access_token()).await;
    assert_error(&error, "invalid_grant", "reconnect");
    assert_eq!(text(&error, "message"), "The refresh token expired: connect again.");
    assert_eq!(JSON::stringify(&get(&error, "errorCodes")).unwrap(), "[700082]");

    let refresh = edge.last("POST /oauth/connectors/err1/refresh");
    assert_eq!(text(&refresh, "headers.content-type"), "application/json");
    assert_eq!(text(&refresh, "headers.x-mailconnect"), "1");
    assert_eq!(JSON::stringify(&get(&refresh, "body")).unwrap(), "{}");
}

#[wasm_bindgen_test]
async fn answers_outside_the_contract_are_bad_responses() {
    let edge = edge("bad1");
    let teams = load("bad1").await;
    set_route(&edge, "POST /oauth/connectors/bad1/refresh", 502, "<html>Bad gateway</html>");
    assert_error(&rejection(&teams.access_token()).await, "bad_response", "retry");
    set_route(&edge, "POST /oauth/connectors/bad1/refresh", 404, r#"{"unexpected":true}"#);
    assert_error(&rejection(&teams.access_token()).await, "bad_response", "configuration");
    set_route(&edge, "POST /oauth/connectors/bad1/refresh", 200, r#"{"access_token":42}"#);
    assert_error(&rejection(&teams.access_token()).await, "bad_response", "configuration");
}

#[wasm_bindgen_test]
async fn options_are_checked_before_anything_happens() {
    let edge = edge("opt1");
    assert_error(&Connector::load(json(r#"{"connector":"opt1"}"#)).await.unwrap_err(), "configuration_error", "configuration");
    assert_error(&load_with("opt1", r#","refreshMargin":5"#).await.unwrap_err(), "configuration_error", "configuration");
    assert_eq!(edge.count("GET /oauth/connectors/opt1"), 0);

    let teams = load("opt1").await;
    let opener = install_open("open");
    assert_error(&rejection(&connect(&teams, r#"{"prompt":"always"}"#)).await, "configuration_error", "configuration");
    assert_error(&rejection(&connect(&teams, r#"{"mode":"tab"}"#)).await, "configuration_error", "configuration");
    assert_error(&rejection(&connect(&teams, r#"{"timeoutMs":0}"#)).await, "configuration_error", "configuration");
    for open_redirect in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
        let options = format!(r#"{{"mode":"redirect","returnTo":{}}}"#, JSON::stringify(&open_redirect.into()).unwrap());
        assert_error(&rejection(&connect(&teams, &options)).await, "invalid_return_to", "none");
    }
    assert_eq!(opener.calls().length(), 0, "no popup for invalid options");
}

#[wasm_bindgen_test]
async fn redirect_uri_on_another_origin_is_refused_at_load() {
    let edge = edge("cross1");
    let body =
        format!(r#"{{"id":"cross1","authorize_url":"{AUTHORIZE}","client_id":"c","scope":"openid","redirect_uris":["https://other.example/callback.html"]}}"#);
    set_route(&edge, "GET /oauth/connectors/cross1", 200, &body);
    let error = load_with("cross1", "").await.unwrap_err();
    assert_error(&error, "configuration_error", "configuration");
    assert!(text(&error, "message").contains("https://other.example/callback.html"));
}

#[wasm_bindgen_test]
async fn authorize_url_that_could_run_script_is_refused_at_load() {
    for authorize in ["javascript:alert(1)//", "data:text/html,x", "http://login.example.test/authorize"] {
        let _edge = edge_for("scheme1", authorize);
        assert_error(&load_with("scheme1", "").await.unwrap_err(), "configuration_error", "configuration");
    }
}

#[wasm_bindgen_test]
async fn popup_sign_in_redeems_the_code_with_the_verifier_of_its_challenge() {
    let edge = edge("pop1");
    let opener = install_open("open");
    let teams = load("pop1").await;
    let connected = connect(&teams, r#"{"mode":"popup","loginHint":"ann@contoso.com"}"#);

    // The popup was opened synchronously, inside connect().
    assert_eq!(opener.calls().length(), 1);
    let url = opened_url(&opener);
    assert!(url.starts_with(&format!("{AUTHORIZE}?response_type=code&client_id=client-1&")), "{url}");
    assert_eq!(param(&url, "redirect_uri").unwrap(), format!("{}/callback.html", origin()));
    assert_eq!(param(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&url, "prompt").as_deref(), Some("select_account"));
    assert_eq!(param(&url, "login_hint").as_deref(), Some("ann@contoso.com"));
    let state = param(&url, "state").unwrap();
    assert_eq!(state.len(), 22, "16 random bytes, base64url");

    // The callback page answers on the state's channel; the opener acknowledges there.
    let ack = next_of_type(&channel(&state), "mailconnect:ack");
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=code-1&state={state}&iss={}", js_sys::encode_uri_component(ISSUER))));
    let status = wait(connected).await;
    assert_eq!(get(&status, "connected"), true);
    assert_eq!(text(&status, "account.username"), "ann@contoso.com");
    assert_eq!(text(&wait(ack).await, "state"), state);
    assert_eq!(get(&opener.popup(), "closedByOpener"), true);

    let exchange = edge.last("POST /oauth/connectors/pop1/token");
    assert_eq!(text(&exchange, "body.code"), "code-1");
    assert_eq!(text(&exchange, "body.redirect_uri"), format!("{}/callback.html", origin()));
    let verifier = text(&exchange, "body.code_verifier");
    assert_eq!(verifier.len(), 43);
    // The challenge Rust computed is the browser's own SHA-256 of the verifier.
    assert_eq!(wait(s256(&verifier)).await, param(&url, "code_challenge").unwrap());

    // The token from the exchange is in memory: no refresh needed.
    assert_eq!(text(&wait(teams.access_token()).await, "accessToken"), "at-1");
    assert_eq!(edge.count("POST /oauth/connectors/pop1/refresh"), 0);
}

#[wasm_bindgen_test]
async fn window_messages_count_only_from_this_origin_and_for_this_state() {
    let edge = edge("pop2");
    let opener = install_open("open");
    let teams = load("pop2").await;
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    let params = format!("?code=code-2&state={state}");

    window_message(&callback_message(&state, &params), "https://evil.example");
    window_message(&callback_message("another-state", "?code=evil&state=another-state"), &origin());
    assert_eq!(wait(is_pending(&connected)).await, true);
    assert_eq!(edge.count("POST /oauth/connectors/pop2/token"), 0);

    window_message(&callback_message(&state, &params), &origin());
    assert_eq!(get(&wait(connected).await, "connected"), true);
    assert_eq!(text(&edge.last("POST /oauth/connectors/pop2/token"), "body.code"), "code-2");
}

#[wasm_bindgen_test]
async fn provider_errors_and_foreign_issuers_reject_with_their_action() {
    let edge = edge("pop3");
    let opener = install_open("open");
    let teams = load("pop3").await;

    let denied = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    let params = format!("#error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent.&state={state}");
    broadcast(&channel(&state), &callback_message(&state, &params));
    let error = rejection(&denied).await;
    assert_error(&error, "access_denied", "consent");
    assert_eq!(JSON::stringify(&get(&error, "errorCodes")).unwrap(), "[65004]");

    let mixed_up = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=c&state={state}&iss=https%3A%2F%2Fevil.example")));
    assert_error(&rejection(&mixed_up).await, "issuer_mismatch", "reconnect");
    assert_eq!(edge.count("POST /oauth/connectors/pop3/token"), 0, "no code reaches the edge");
}

#[wasm_bindgen_test]
async fn provider_that_always_sends_iss_has_a_response_without_it_refused() {
    let edge = edge_with("pop4", AUTHORIZE, &format!("{}/callback.html", origin()), r#","authorization_response_iss_parameter_supported":true"#);
    let opener = install_open("open");
    let teams = load("pop4").await;

    let bare = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=c&state={state}")));
    assert_error(&rejection(&bare).await, "missing_issuer", "reconnect");
    assert_eq!(edge.count("POST /oauth/connectors/pop4/token"), 0, "no code reaches the edge");

    let named = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=c4&state={state}{}", iss())));
    assert_eq!(get(&wait(named).await, "connected"), true);
    assert_eq!(text(&edge.last("POST /oauth/connectors/pop4/token"), "body.code"), "c4");
}

#[wasm_bindgen_test]
async fn response_arriving_at_another_redirect_uri_is_refused_as_a_mix_up() {
    let edge = edge("pop5");
    let opener = install_open("open");
    let teams = load("pop5").await;
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    // Another connector's callback page (its provider sent the user there) relays the response.
    let elsewhere = format!("{}/zoom-callback.html", origin());
    broadcast(&channel(&state), &callback_message_at(&state, &format!("?code=c&state={state}{}", iss()), &elsewhere));
    assert_error(&rejection(&connected).await, "redirect_uri_mismatch", "reconnect");
    assert_eq!(edge.count("POST /oauth/connectors/pop5/token"), 0, "no code reaches the edge");
}

#[wasm_bindgen_test]
async fn closing_the_popup_at_the_provider_rejects_popup_closed() {
    let _edge = edge("pop4");
    let opener = install_open("open");
    let teams = load("pop4").await;
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    JsFuture::from(sleep(1600)).await.unwrap();
    assert_eq!(wait(is_pending(&connected)).await, true, "open at the provider: still waiting");
    Reflect::set(&opener.popup(), &"closed".into(), &true.into()).unwrap();
    assert_error(&rejection(&connected).await, "popup_closed", "interaction");
}

#[wasm_bindgen_test]
async fn popup_severed_a_moment_after_showing_the_provider_keeps_waiting_for_the_channel() {
    let _edge = edge("pop4s");
    let opener = install_open("open");
    let teams = load("pop4s").await;
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    // Polls see the window on the provider's origin for less than a second, then COOP severs it.
    JsFuture::from(sleep(600)).await.unwrap();
    Reflect::set(&opener.popup(), &"closed".into(), &true.into()).unwrap();
    JsFuture::from(sleep(800)).await.unwrap();
    assert_eq!(wait(is_pending(&connected)).await, true, "severed on its way to the provider, not closed by the user");
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=code-4s&state={state}")));
    assert_eq!(get(&wait(connected).await, "connected"), true);
}

#[wasm_bindgen_test]
async fn popup_severed_by_coop_keeps_waiting_for_the_channel() {
    let _edge = edge("pop5");
    let opener = install_open("severed");
    let teams = load("pop5").await;
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    JsFuture::from(sleep(800)).await.unwrap();
    assert_eq!(wait(is_pending(&connected)).await, true, "a handle that reads as closed from the start is severed, not closed");
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=code-5&state={state}")));
    assert_eq!(get(&wait(connected).await, "connected"), true);
}

#[wasm_bindgen_test]
async fn sign_in_that_does_not_come_back_times_out() {
    let _edge = edge("pop6");
    let opener = install_open("open");
    let teams = load("pop6").await;
    let error = rejection(&connect(&teams, r#"{"mode":"popup","timeoutMs":300}"#)).await;
    assert_error(&error, "timeout", "interaction");
    assert_eq!(get(&opener.popup(), "closedByOpener"), true, "the popup is closed when giving up");
}

#[wasm_bindgen_test]
async fn blocked_popup_rejects_in_popup_mode() {
    let _edge = edge("pop7");
    let _opener = install_open("blocked");
    let teams = load("pop7").await;
    assert_error(&rejection(&connect(&teams, r#"{"mode":"popup"}"#)).await, "popup_blocked", "interaction");
}

#[wasm_bindgen_test]
async fn second_connect_joins_the_open_popup_and_a_severed_one_is_replaced() {
    let _edge = edge("pop8");
    let opener = install_open("open");
    let teams = load("pop8").await;
    let first = connect(&teams, r#"{"mode":"popup"}"#);
    let second = connect(&teams, r#"{"mode":"popup"}"#);
    assert!(js_sys::Object::is(&first, &second), "the same promise");
    assert_eq!(opener.calls().length(), 1);
    assert_eq!(get(&opener.popup(), "focused"), 1);

    // A handle that reads as closed (severed or closed) is replaced by a fresh sign-in.
    Reflect::set(&opener.popup(), &"closed".into(), &true.into()).unwrap();
    let third = connect(&teams, r#"{"mode":"popup"}"#);
    assert_error(&rejection(&first).await, "popup_closed", "interaction");
    assert_eq!(opener.calls().length(), 2);
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=c&state={state}")));
    assert_eq!(get(&wait(third).await, "connected"), true);
}

#[wasm_bindgen_test]
async fn another_tabs_live_marker_blocks_and_an_expired_one_does_not() {
    let _edge = edge("pop9");
    let opener = install_open("open");
    let teams = load("pop9").await;
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let key = format!("mailconnect:busy:{}/oauth:pop9", origin());

    storage.set_item(&key, &format!("{} 77", js_sys::Date::now() as u64 + 60_000)).unwrap();
    assert_error(&rejection(&connect(&teams, r#"{"mode":"popup"}"#)).await, "interaction_in_progress", "retry");
    assert_eq!(opener.calls().length(), 0);

    // Left behind by a tab that closed: expired, so it never blocks.
    storage.set_item(&key, &format!("{} 77", js_sys::Date::now() as u64 - 1)).unwrap();
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    assert_eq!(opener.calls().length(), 1);
    let marker = storage.get_item(&key).unwrap().expect("this tab's marker while its popup is open");
    assert!(!marker.ends_with(" 77"));
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=c&state={state}")));
    wait(connected).await;
    assert_eq!(storage.get_item(&key).unwrap(), None, "removed when done");
}

#[wasm_bindgen_test]
async fn access_token_is_reused_until_the_margin_then_refreshed() {
    let edge = edge("tok1");
    let teams = load("tok1").await;
    let token = wait(teams.access_token()).await;
    assert_eq!(text(&token, "accessToken"), "at-1");
    assert_eq!(text(&token, "scope"), "User.Read");
    assert_eq!(text(&token, "account.name"), "Ann");
    let expires_at = get(&token, "expiresAt").as_f64().unwrap();
    let now = js_sys::Date::now();
    assert!((now + 3_590_000.0..=now + 3_600_000.0).contains(&expires_at), "local clock + expires_in");
    wait(teams.access_token()).await;
    assert_eq!(edge.count("POST /oauth/connectors/tok1/refresh"), 1, "the second call is served from memory");

    // A margin longer than the token's life makes every call refresh.
    let eager = load_with("tok1", r#","refreshMarginMs":3600000"#).await.unwrap();
    wait(eager.access_token()).await;
    wait(eager.access_token()).await;
    assert_eq!(edge.count("POST /oauth/connectors/tok1/refresh"), 3);
}

#[wasm_bindgen_test]
async fn concurrent_callers_in_two_contexts_share_one_refresh() {
    let edge = edge("tok2");
    let a = load("tok2").await;
    let b = load("tok2").await;
    let both = Array::of4(&a.access_token(), &b.access_token(), &a.access_token(), &b.access_token());
    let tokens: Array = wait(Promise::all(&both)).await.into();
    assert_eq!(edge.count("POST /oauth/connectors/tok2/refresh"), 1, "Web Lock + BroadcastChannel");
    for token in tokens.iter() {
        assert_eq!(text(&token, "accessToken"), "at-1");
    }
}

#[wasm_bindgen_test]
async fn disconnect_clears_the_token_in_every_context() {
    let edge = edge("tok3");
    let a = load("tok3").await;
    let b = load("tok3").await;
    wait(b.access_token()).await;
    assert_eq!(edge.count("POST /oauth/connectors/tok3/refresh"), 1);

    let cleared = next_token_message(&format!("mailconnect:{}/oauth:tok3", origin()));
    assert!(wait(a.disconnect()).await.is_undefined());
    assert!(get(&wait(cleared).await, "token").is_null());
    assert_eq!(edge.count("POST /oauth/connectors/tok3/disconnect"), 1);
    wait(b.access_token()).await;
    assert_eq!(edge.count("POST /oauth/connectors/tok3/refresh"), 2, "b forgot its token");
}

#[wasm_bindgen_test]
async fn status_reads_the_edge_session() {
    let edge = edge("st1");
    let teams = load("st1").await;
    let status = wait(teams.status()).await;
    assert_eq!(get(&status, "connected"), true);
    assert_eq!(text(&status, "account.tid"), "t-1");
    set_route(&edge, "GET /oauth/session", 200, r#"{"connectors":[]}"#);
    let status = wait(teams.status()).await;
    assert_eq!(get(&status, "connected"), false);
    assert!(get(&status, "account").is_undefined());
}

/// Puts `query` in this page's address, as a provider's redirect would.
fn arrive_with(query: &str) {
    let w = web_sys::window().unwrap();
    let path = w.location().pathname().unwrap();
    w.history().unwrap().replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}"))).unwrap();
}

fn address() -> String {
    let l = web_sys::window().unwrap().location();
    format!("{}{}", l.search().unwrap(), l.hash().unwrap())
}

#[wasm_bindgen_test]
async fn callback_page_without_a_response_rejects_not_a_callback() {
    arrive_with("?tab=inbox");
    assert_error(&rejection(&handle_callback(None)).await, "not_a_callback", "none");
    arrive_with("");
}

#[wasm_bindgen_test]
async fn popup_callback_posts_on_the_state_channel_and_removes_the_code_from_history() {
    arrive_with("?code=code-7&state=state-7&session_state=x");
    let delivered = next_of_type(&channel("state-7"), "mailconnect:callback");
    let handled = handle_callback(None);
    assert_eq!(address(), "", "the code left the address bar at once");
    let message = wait(delivered).await;
    assert_eq!(text(&message, "params"), "?code=code-7&state=state-7&session_state=x");
    assert_eq!(text(&message, "redirectUri"), this_page(), "where the response arrived, for the opener's mix-up check");
    let ack = js_sys::Object::new();
    Reflect::set(&ack, &"type".into(), &"mailconnect:ack".into()).unwrap();
    Reflect::set(&ack, &"state".into(), &"state-7".into()).unwrap();
    broadcast(&channel("state-7"), &ack);
    assert!(wait(handled).await.is_undefined());
}

#[wasm_bindgen_test]
async fn admin_consent_return_is_reported_as_such_and_a_refusal_as_the_providers_error() {
    use mailconnect_core::contract::ADMIN_CONSENT_STATE;
    arrive_with(&format!("?admin_consent=True&tenant=t-42&state={ADMIN_CONSENT_STATE}"));
    let report = wait(handle_callback(None)).await;
    assert_eq!(address(), "", "the response left the address bar");
    assert_eq!(get(&report, "adminConsent"), true);
    assert_eq!(text(&report, "tenant"), "t-42");

    arrive_with(&format!("?error=access_denied&error_description=AADSTS65004%3A+declined&state={ADMIN_CONSENT_STATE}"));
    let error = rejection(&handle_callback(None)).await;
    assert_error(&error, "access_denied", "consent");
    assert_eq!(address(), "");
    arrive_with("");
}

#[wasm_bindgen_test]
async fn redirect_sign_in_round_trips_through_session_storage_to_the_deep_link() {
    // A "provider" at this very page's address plus a fragment: leaving for it is a same-document
    // navigation, so the test survives the redirect.
    let here = web_sys::window().unwrap().location();
    let authorize = format!("{}{}{}#provider", origin(), here.pathname().unwrap(), here.search().unwrap());
    let edge = edge_with("red1", &authorize, &this_page(), "");
    let opener = install_open("blocked");
    let teams = load("red1").await;
    let path = web_sys::window().unwrap().location().pathname().unwrap();
    let deep_link = format!("{path}#message=42");
    let left = connect(&teams, &format!(r#"{{"mode":"auto","returnTo":"{deep_link}"}}"#));
    assert_eq!(opener.calls().length(), 1, "tried a popup first");
    assert_eq!(wait(is_pending(&left)).await, true, "the page is leaving: never settles");

    let storage = web_sys::window().unwrap().session_storage().unwrap().unwrap();
    let key = (0..storage.length().unwrap()).filter_map(|i| storage.key(i).unwrap()).find(|k| k.starts_with("mailconnect:redirect:")).expect("pending entry");
    let state = key.trim_start_matches("mailconnect:redirect:").to_owned();
    let pending = json(&storage.get_item(&key).unwrap().unwrap());
    assert_eq!(text(&pending, "connector"), "red1");
    assert_eq!(text(&pending, "returnTo"), deep_link);

    assert!(address().starts_with("#provider?response_type=code&"), "left for the provider: {}", address());

    assert_eq!(text(&pending, "edge"), format!("{}/oauth", origin()));
    assert_eq!(text(&pending, "issuer"), ISSUER);

    arrive_with(&format!("?code=code-r&state={state}"));
    assert!(wait(handle_callback(Some(json(r#"{"edge":"/oauth"}"#)))).await.is_undefined());
    assert_eq!(address(), "#message=42", "back at the deep link, code gone");
    assert_eq!(storage.get_item(&key).unwrap(), None, "single use");
    let exchange = edge.last("POST /oauth/connectors/red1/token");
    assert_eq!(text(&exchange, "body.code"), "code-r");
    assert_eq!(text(&exchange, "body.code_verifier"), text(&pending, "verifier"));
    arrive_with("");
}

#[wasm_bindgen_test]
async fn expired_redirect_entry_is_ignored_and_nobody_answers() {
    let storage = web_sys::window().unwrap().session_storage().unwrap().unwrap();
    let entry = format!(
        r#"{{"edge":"{}/oauth","connector":"red2","verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","redirectUri":"x","returnTo":"/","expiresAt":{}}}"#,
        origin(),
        js_sys::Date::now() - 1.0
    );
    storage.set_item("mailconnect:redirect:state-old", &entry).unwrap();
    arrive_with("?code=c&state=state-old");
    assert_error(&rejection(&handle_callback(None)).await, "unknown_state", "reconnect");
    assert_eq!(storage.get_item("mailconnect:redirect:state-old").unwrap(), None);
    assert_eq!(address(), "");
}

/// A redirect sign-in's entry as `connect()` stores it, with `fields` over its defaults
/// (`,"key":value…`): for connector `id` at this page's edge, issuer [`ISSUER`], redirect URI
/// this page.
fn plant(state: &str, id: &str, fields: &str) {
    let storage = web_sys::window().unwrap().session_storage().unwrap().unwrap();
    let entry = json(&format!(
        r#"{{"edge":"{}/oauth","connector":"{id}","verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","redirectUri":"{}","issuer":"{ISSUER}","returnTo":"/","expiresAt":{}}}"#,
        origin(),
        this_page(),
        js_sys::Date::now() + 60_000.0
    ));
    let changes = json(&format!("{{{}}}", fields.trim_start_matches(',')));
    js_sys::Object::assign(entry.unchecked_ref::<js_sys::Object>(), changes.unchecked_ref::<js_sys::Object>());
    storage.set_item(&format!("mailconnect:redirect:{state}"), &JSON::stringify(&entry).unwrap().as_string().unwrap()).unwrap();
}

/// This page's address without query or fragment: the redirect URI of the redirect tests.
fn this_page() -> String {
    let location = web_sys::window().unwrap().location();
    format!("{}{}", origin(), location.pathname().unwrap())
}

#[wasm_bindgen_test]
async fn tampered_return_target_is_refused_after_the_exchange() {
    let _edge = edge_with("red3", AUTHORIZE, &this_page(), "");
    plant("state-red3", "red3", r#","returnTo":"//evil.example/""#);
    arrive_with(&format!("?code=c&state=state-red3{}", iss()));
    assert_error(&rejection(&handle_callback(None)).await, "invalid_return_to", "none");
    assert_eq!(address(), "", "no navigation");
}

#[wasm_bindgen_test]
async fn planted_redirect_entry_for_another_edge_issuer_or_redirect_uri_sends_nothing() {
    let edge = edge_with("red4", AUTHORIZE, &this_page(), "");
    for (n, fields) in [
        r#","edge":"https://evil.example/oauth""#.to_owned(),
        r#","issuer":"https://evil.example""#.to_owned(),
        r#","issuer":null"#.to_owned(),
        format!(r#","redirectUri":"{}/elsewhere.html""#, origin()),
    ]
    .iter()
    .enumerate()
    {
        let state = format!("state-red4-{n}");
        plant(&state, "red4", fields);
        arrive_with(&format!("?code=c&state={state}{}", iss()));
        assert_error(&rejection(&handle_callback(None)).await, "pending_mismatch", "reconnect");
        assert_eq!(address(), "", "no navigation");
    }
    assert_eq!(edge.count("POST /oauth/connectors/red4/token"), 0, "neither code nor verifier was sent");

    // The same entries, honest, at an edge the page names but the entry does not.
    plant("state-red4-edge", "red4", "");
    arrive_with(&format!("?code=c&state=state-red4-edge{}", iss()));
    let other_edge = json(r#"{"edge":"https://edge.example/oauth"}"#);
    assert_error(&rejection(&handle_callback(Some(other_edge))).await, "pending_mismatch", "reconnect");
    assert_eq!(edge.count("POST /oauth/connectors/red4/token"), 0);
    assert_eq!(edge.count("GET /oauth/connectors/red4"), 3, "the edge is asked for the connector's settings only once the entry names it");
}

#[wasm_bindgen_test]
async fn callback_options_are_checked() {
    arrive_with("?code=c&state=state-opt");
    assert_error(&rejection(&handle_callback(Some(json(r#"{"edge":42}"#)))).await, "configuration_error", "configuration");
    arrive_with("?code=c&state=state-opt");
    assert_error(&rejection(&handle_callback(Some(json(r#"{"edges":"/oauth"}"#)))).await, "configuration_error", "configuration");
    arrive_with("");
}

/// The edge's answers as core's own serde writes them (crates/core/src/contract.rs), and the token
/// request read back with core's own (strict) deserializer: src/edge_client.rs reads the
/// contract's fields by name, so a field renamed in contract.rs fails here until it is renamed
/// there too.
#[wasm_bindgen_test]
async fn contract_types_of_core_read_as_the_module_expects() {
    use mailconnect_core::contract::{Account, Connection, ConnectorInfo, Disconnected, ErrorBody, SessionInfo, TokenRequest, TokenResponse};
    use mailconnect_core::{AccessToken, Action};

    let account = Account { name: Some("Ann".into()), username: Some("ann@contoso.com".into()), oid: Some("o-1".into()), tid: Some("t-1".into()) };
    let info = ConnectorInfo {
        id: "drift1".into(),
        authorize_url: AUTHORIZE.into(),
        client_id: "client-1".into(),
        scope: "openid".into(),
        redirect_uris: vec![format!("{}/callback.html", origin())],
        prompt: Some("login".into()),
        domain_hint: Some("contoso.com".into()),
        issuer: Some(ISSUER.into()),
        authorization_response_iss_parameter_supported: true,
        // Not read by the module: present here to prove an optional field it does not know is ignored.
        admin_consent_url: Some("https://login.example/organizations/v2.0/adminconsent".into()),
    };
    let token = TokenResponse {
        access_token: AccessToken::new("at-drift"),
        token_type: "Bearer".into(),
        expires_in: 3600,
        expires_at: 1_800_000_000,
        scope: "User.Read".into(),
        account: Some(account.clone()),
    };
    let session = SessionInfo { connectors: vec![Connection { id: "drift1".into(), account: Some(account) }] };
    let disconnected = Disconnected { status: "disconnected".into() };
    let error = ErrorBody {
        error: "invalid_grant".into(),
        error_description: "expired".into(),
        action: Action::Reconnect,
        retryable: false,
        error_codes: Some(vec![70008]),
    };
    let edge = install_edge(&json("{}"));
    let serve = |key: &str, status: u16, body: String| set_route(&edge, key, status, &body);
    serve("GET /oauth/connectors/drift1", 200, serde_json::to_string(&info).unwrap());
    serve("POST /oauth/connectors/drift1/token", 200, serde_json::to_string(&token).unwrap());
    serve("GET /oauth/session", 200, serde_json::to_string(&session).unwrap());
    serve("POST /oauth/connectors/drift1/disconnect", 200, serde_json::to_string(&disconnected).unwrap());
    serve("POST /oauth/connectors/drift1/refresh", 400, serde_json::to_string(&error).unwrap());

    let opener = install_open("open");
    let teams = load("drift1").await;
    // authorization_response_iss_parameter_supported was read: a response without iss is refused.
    let bare = connect(&teams, r#"{"mode":"popup"}"#);
    let state = param(&opened_url(&opener), "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=code-d&state={state}")));
    assert_error(&rejection(&bare).await, "missing_issuer", "reconnect");
    let connected = connect(&teams, r#"{"mode":"popup"}"#);
    let url = opened_url(&opener);
    assert!(url.starts_with(&format!("{AUTHORIZE}?response_type=code&client_id=client-1&")), "{url}");
    assert_eq!(param(&url, "prompt").as_deref(), Some("login"));
    assert_eq!(param(&url, "domain_hint").as_deref(), Some("contoso.com"));
    let state = param(&url, "state").unwrap();
    broadcast(&channel(&state), &callback_message(&state, &format!("?code=code-d&state={state}&iss={}", js_sys::encode_uri_component(ISSUER))));
    assert_eq!(text(&wait(connected).await, "account.oid"), "o-1");
    let request = JSON::stringify(&get(&edge.last("POST /oauth/connectors/drift1/token"), "body")).unwrap();
    let request: TokenRequest = serde_json::from_str(&String::from(request)).expect("the module's token request is core's TokenRequest");
    assert_eq!(request.code.expose(), "code-d");

    let token = wait(teams.access_token()).await;
    assert_eq!(text(&token, "accessToken"), "at-drift");
    assert_eq!(text(&token, "scope"), "User.Read");
    assert_eq!(text(&wait(teams.status()).await, "account.tid"), "t-1");
    assert!(wait(teams.disconnect()).await.is_undefined());
    let error = rejection(&teams.access_token()).await;
    assert_error(&error, "invalid_grant", "reconnect");
    assert_eq!(JSON::stringify(&get(&error, "errorCodes")).unwrap(), "[70008]");
}

// ---- the session's binding to the webmail's user (src/session.rs) ------------------------------

const TICKET_REQUIRED: &str = r#"[401, {"error":"ticket_required","error_description":"sign in to the webmail","action":"interaction","retryable":false}]"#;

/// The edge of connector `id` with user binding on: `GET /session` answers `ticket_required`
/// `unbound` times, then the session; `POST /session/bind` answers the session.
fn binding_edge(id: &str, unbound: usize) -> Installed<Edge> {
    let edge = edge(id);
    let session = format!(r#"[200, {{"connectors":[{{"id":"{id}","account":{{"username":"ada@contoso.com"}}}}]}}]"#);
    let answers: Vec<&str> = std::iter::repeat_n(TICKET_REQUIRED, unbound).chain([session.as_str()]).collect();
    Reflect::set(&edge.routes(), &"GET /oauth/session".into(), &json(&format!("[{}]", answers.join(",")))).unwrap();
    Reflect::set(&edge.routes(), &"POST /oauth/session/bind".into(), &json(&session)).unwrap();
    edge
}

fn tickets(values: &[&str]) -> js_sys::Function {
    ticket_source(values.iter().map(|v| JsValue::from_str(v)).collect())
}

async fn load_bound(id: &str, ticket: &js_sys::Function) -> Connector {
    let options = json(&format!(r#"{{"edge":"{}/oauth","connector":"{id}"}}"#, origin()));
    Reflect::set(&options, &"ticket".into(), ticket).unwrap();
    Connector::load(options).await.expect("Connector.load")
}

fn calls(ticket: &js_sys::Function) -> f64 {
    get(ticket, "calls").as_f64().unwrap()
}

/// The generation of the browser's binding to this page's edge, as session.rs keeps it.
fn binding() -> String {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.get_item("mailconnect:binding").unwrap().unwrap_or_default()
}

/// Another tab's bind or end: a new generation of the binding to this page's edge, with no connectors.
async fn switch_binding(generation: &str) {
    let switch = js_sys::Object::new();
    Reflect::set(&switch, &"binding".into(), &generation.into()).unwrap();
    Reflect::set(&switch, &"connectors".into(), &js_sys::Object::new()).unwrap();
    broadcast(&format!("mailconnect:{}/oauth", origin()), &switch.into());
    JsFuture::from(sleep(20)).await.unwrap();
}

/// The next `change` event of `connector`, as a promise of its detail.
fn next_change(connector: &Connector) -> Promise {
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, _| settle = Some(resolve));
    let resolve = settle.unwrap();
    let listener = Closure::once_into_js(move |event: web_sys::CustomEvent| resolve.call1(&JsValue::UNDEFINED, &event.detail()).unwrap());
    connector.add_event_listener("change", listener.unchecked_ref());
    promise
}

#[wasm_bindgen_test]
async fn ticket_required_binds_with_a_fresh_ticket_then_retries_once() {
    use mailconnect_core::contract::BindRequest;
    let edge = binding_edge("bind1", 1);
    let ticket = tickets(&["ticket-ada"]);
    let teams = load_bound("bind1", &ticket).await;
    assert_eq!(calls(&ticket), 0.0, "no ticket until the edge asks for one");
    let status = wait(teams.status()).await;
    assert_eq!(text(&status, "account.username"), "ada@contoso.com");
    assert_eq!(calls(&ticket), 1.0);
    assert_eq!(edge.count("POST /oauth/session/bind"), 1);
    assert_eq!(edge.count("GET /oauth/session"), 2, "the request, then its one retry");
    let bind = edge.last("POST /oauth/session/bind");
    assert_eq!(text(&bind, "headers.x-mailconnect"), "1");
    let body = String::from(JSON::stringify(&get(&bind, "body")).unwrap());
    let request: BindRequest = serde_json::from_str(&body).expect("the module's bind request is core's BindRequest");
    assert_eq!(request.ticket.expose(), "ticket-ada");
}

#[wasm_bindgen_test]
async fn ticket_required_after_a_bind_is_not_retried_again() {
    let edge = binding_edge("bind2", 9);
    let ticket = tickets(&["ticket-ada"]);
    let teams = load_bound("bind2", &ticket).await;
    assert_error(&rejection(&teams.status()).await, "ticket_required", "interaction");
    assert_eq!(edge.count("POST /oauth/session/bind"), 1);
    assert_eq!(edge.count("GET /oauth/session"), 2);
}

#[wasm_bindgen_test]
async fn concurrent_requests_of_a_page_share_one_bind() {
    let edge = binding_edge("bind3", 2);
    let ticket = tickets(&["ticket-ada"]);
    let teams = load_bound("bind3", &ticket).await;
    let both: Array = wait(Promise::all(&Array::of2(&teams.status(), &teams.status()))).await.into();
    assert_eq!(both.length(), 2);
    assert_eq!(edge.count("POST /oauth/session/bind"), 1);
    assert_eq!(calls(&ticket), 1.0);
}

#[wasm_bindgen_test]
async fn a_ticket_function_that_fails_rejects_ticket_unavailable_and_none_passes_ticket_required_on() {
    let edge = binding_edge("bind4", 9);
    let signed_out = tickets(&[]);
    let teams = load_bound("bind4", &signed_out).await;
    assert_error(&rejection(&teams.status()).await, "ticket_unavailable", "interaction");
    assert_eq!(edge.count("POST /oauth/session/bind"), 0);
    let unbound = load("bind4").await;
    assert_error(&rejection(&unbound.status()).await, "ticket_required", "interaction");
    assert_eq!(edge.count("POST /oauth/session/bind"), 0);
    assert!(load_with("bind4", r#","ticket":"not-a-function""#).await.is_err(), "ticket must be a function");
}

#[wasm_bindgen_test]
async fn a_bind_clears_every_contexts_token_and_reports_the_new_users_connections() {
    let edge = binding_edge("bind5", 1);
    let before = binding();
    let ada = load("bind5").await;
    wait(ada.access_token()).await;
    let changed = next_change(&ada);
    let grace = load_bound("bind5", &tickets(&["ticket-grace"])).await;
    wait(grace.status()).await;
    assert_ne!(binding(), before, "a bind starts a new generation");
    assert_eq!(text(&wait(changed).await, "account.username"), "ada@contoso.com", "the session's connector, as the bind answered");
    wait(ada.access_token()).await;
    assert_eq!(edge.count("POST /oauth/connectors/bind5/refresh"), 2, "the token of the previous binding was forgotten");
}

#[wasm_bindgen_test]
async fn end_session_forgets_every_contexts_token_then_ends_the_edge_session() {
    let edge = edge("end1");
    set_route(&edge, "POST /oauth/session/end", 200, r#"{"status":"ended"}"#);
    let a = load("end1").await;
    let b = load("end1").await;
    wait(b.access_token()).await;
    let changed = next_change(&a);
    let options = json(&format!(r#"{{"edge":"{}/oauth/"}}"#, origin()));
    assert!(wait(end_session(options)).await.is_undefined());
    assert_eq!(edge.count("POST /oauth/session/end"), 1);
    assert_eq!(text(&edge.last("POST /oauth/session/end"), "headers.x-mailconnect"), "1");
    assert_eq!(get(&wait(changed).await, "connected"), false);
    wait(b.access_token()).await;
    assert_eq!(edge.count("POST /oauth/connectors/end1/refresh"), 2, "b forgot its token at once");
    assert_error(&rejection(&end_session(json(r#"{"edge":1}"#))).await, "configuration_error", "configuration");
}

#[wasm_bindgen_test]
async fn a_token_message_of_another_binding_is_ignored() {
    let edge = edge("gen1");
    let teams = load("gen1").await;
    let foreign = json(r#"{"accessToken":"at-of-ada","expiresAt":9999999999999,"scope":"User.Read"}"#);
    let message = |binding: &str| {
        let m = js_sys::Object::new();
        Reflect::set(&m, &"token".into(), &foreign).unwrap();
        Reflect::set(&m, &"binding".into(), &binding.into()).unwrap();
        m.into()
    };
    switch_binding("gen1-binding").await;
    let name = format!("mailconnect:{}/oauth:gen1", origin());
    broadcast(&name, &message("a-previous-binding"));
    JsFuture::from(sleep(20)).await.unwrap();
    assert_eq!(text(&wait(teams.access_token()).await, "accessToken"), "at-1");
    assert_eq!(edge.count("POST /oauth/connectors/gen1/refresh"), 1);
    // The same message in the current binding is taken: the test above can fail.
    let other = load_with("gen1", r#","refreshMarginMs":0"#).await.unwrap();
    broadcast(&name, &message("gen1-binding"));
    JsFuture::from(sleep(20)).await.unwrap();
    assert_eq!(text(&wait(other.access_token()).await, "accessToken"), "at-of-ada");
}

#[wasm_bindgen_test]
async fn an_answer_that_arrives_after_the_binding_changed_is_refused() {
    let edge = edge("gen2");
    let teams = load("gen2").await;
    edge.set_delay_ms(300);
    let pending = teams.access_token();
    while edge.count("POST /oauth/connectors/gen2/refresh") == 0 {
        JsFuture::from(sleep(5)).await.unwrap();
    }
    switch_binding("gen2-binding").await;
    assert_error(&rejection(&pending).await, "session_changed", "retry");
    edge.set_delay_ms(5);
    assert_eq!(text(&wait(teams.access_token()).await, "accessToken"), "at-1", "the next call is of the new binding");
}
