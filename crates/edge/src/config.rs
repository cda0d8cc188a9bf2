//! Settings: non-secret `[vars]` from `wrangler.toml` and Worker secrets (`wrangler secret put`,
//! `.dev.vars` locally), validated together at the first request of an isolate.
//!
//! | binding | kind | meaning |
//! |---|---|---|
//! | `ALLOWED_ORIGINS` | var | browser origins allowed to call the API (JSON array, or separated by spaces/commas) |
//! | `CONNECTORS` | var | JSON object: connector id → [`ConnectorSettings`](connector::ConnectorSettings) |
//! | `SESSION_IDLE_SECONDS` | var | a session unused this long ends (default 14 days) |
//! | `SESSION_MAX_SECONDS` | var | a session ends this long after it began, used or not (default 90 days) |
//! | `UPSTREAM_TIMEOUT_MS` | var | how long to wait for a token endpoint (default 10000) |
//! | `SESSION_KEYS` | secret | keys of at least 32 characters, newest first, separated by spaces: the newest encrypts sessions' tokens, any decrypts them |
//! | `SESSION_KEY` | secret | one such key; if set beside `SESSION_KEYS`, it counts as the oldest |
//! | `{ID}_CLIENT_SECRET` | secret | a connector's client secret (`outlook-mail` → `OUTLOOK_MAIL_CLIENT_SECRET`) |
//! | `{ID}_PRIVATE_KEY` | secret | a connector's certificate key, PKCS#8 PEM (`private_key_jwt`) |
//! | `{ID}_API_KEYS` | secret | an app-token connector's API keys, separated by spaces or commas |
//! | `{ID}_PASSWORD` | secret | a `grant = "password"` connector's service mailbox password |
//! | `USER_TICKET_KEYS` | var | the webmail back end's Ed25519 public keys for tickets, `<kid>:<base64url>`, newest first, separated by spaces; turns on user binding |
//! | `USER_ID_KEY` | secret | with user binding: 32+ characters, never rotated, that name each user's object |
//! | `BACKEND_API_KEYS` | secret | with user binding: the webmail back end's API keys for the `users` routes |
//!
//! A missing or malformed setting answers every request with a `configuration` error naming
//! the setting, until it is fixed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use mailconnect_core::contract::{ConnectorInfo, ADMIN_CONSENT_STATE};
use mailconnect_core::encoding::base64_decode;
use mailconnect_core::{secret_type, ClientSecret, Endpoint, Password, Prompt, Provider, Scopes};
use serde_json::value::RawValue;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::api_key::ApiKeys;
use crate::error::EdgeError;
use crate::grant::Client;

mod connector;
#[cfg(test)]
mod tests;

secret_type! {
    /// A key that session keys are derived from.
    pub(crate) struct SessionKey(Vec<u8>);
}

/// The keys sessions are sealed with: the newest seals, any of them opens, so that a key
/// rotation signs nobody out.
#[derive(Debug)]
pub(crate) struct SessionKeys {
    pub(crate) newest: SessionKey,
    older: Vec<SessionKey>,
}

impl SessionKeys {
    /// Every key, newest first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &SessionKey> {
        std::iter::once(&self.newest).chain(&self.older)
    }

    /// `SESSION_KEYS`, newest first, then a `SESSION_KEY` still set as the oldest: moving from
    /// `SESSION_KEY` to `SESSION_KEYS` is itself a rotation that signs nobody out.
    fn read(get: &dyn Fn(&str) -> Option<String>) -> Result<SessionKeys, EdgeError> {
        let listed = get("SESSION_KEYS");
        let single = get("SESSION_KEY");
        let listed = listed.iter().flat_map(|text| list(text)).map(|key| ("SESSION_KEYS", key));
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for (setting, key) in listed.chain(single.as_deref().map(|key| ("SESSION_KEY", key))) {
            if key.len() < 32 {
                return Err(invalid(setting, "each key must be at least 32 characters (e.g. `openssl rand -base64 32`)"));
            }
            if !keys.iter().any(|k| k == key.as_bytes()) {
                keys.push(key.as_bytes().to_vec());
            }
        }
        let mut keys = keys.into_iter().map(SessionKey::new);
        let newest = keys.next().ok_or_else(|| invalid("SESSION_KEYS", "is not set, nor SESSION_KEY"))?;
        Ok(SessionKeys { newest, older: keys.collect() })
    }
}

/// The items of a list setting, separated by spaces, commas or newlines.
pub(crate) fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split([' ', ',', '\n', '\r', '\t']).filter(|item| !item.is_empty())
}

secret_type! {
    /// A certificate's private key, PKCS#8 DER: hand it only to WebCrypto's `importKey`.
    pub(crate) struct CertificateKey(Vec<u8>);
}

/// A certificate's private key and the `x5t` to name it.
#[derive(Debug)]
pub(crate) struct Certificate {
    /// The secret's binding name, for errors.
    pub(crate) setting: String,
    pub(crate) key: CertificateKey,
    /// base64url SHA-1 thumbprint.
    pub(crate) x5t: String,
}

/// How a connector proves who it is at the token endpoint.
#[derive(Debug)]
pub(crate) enum Credential {
    /// A client secret, in an HTTP Basic header or (`in_body`) in the form.
    Secret { secret: ClientSecret, in_body: bool },
    /// An RFC 7523 client assertion signed with a certificate's key.
    Certificate(Certificate),
}

/// A validated connector: what every grant needs, and whom it serves.
#[derive(Debug)]
pub(crate) struct Connector {
    pub(crate) id: String,
    pub(crate) provider: Provider,
    pub(crate) client_id: String,
    pub(crate) scopes: Scopes,
    pub(crate) credential: Credential,
    /// The `oauth2` client for the token endpoint, built once at load.
    pub(crate) client: Client,
    /// How long to wait for the token endpoint (`UPSTREAM_TIMEOUT_MS`).
    pub(crate) timeout: Duration,
    /// `token_expiry_margin`, in seconds.
    pub(crate) expiry_margin: u64,
    pub(crate) role: Role,
}

/// Whom a connector serves: browsers or mail servers, never both.
#[derive(Debug)]
pub(crate) enum Role {
    Browser(Browser),
    App(App),
}

/// What only a browser connector (`grant = "authorization_code"`) has.
#[derive(Debug)]
pub(crate) struct Browser {
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) domain_hint: Option<String>,
    /// Whether the `users` routes serve it (`backend_access = true`).
    pub(crate) backend_access: bool,
}

/// What only an app connector, which serves mail servers instead of browsers, has.
#[derive(Debug)]
pub(crate) struct App {
    /// Who may ask for its tokens.
    pub(crate) api_keys: ApiKeys,
    pub(crate) grant: AppGrant,
}

/// How an app connector gets its tokens.
#[derive(Debug)]
pub(crate) enum AppGrant {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// The resource owner password grant (§4.3) of one service mailbox.
    Password(Mailbox),
}

/// The service mailbox of a `grant = "password"` connector. `Debug` redacts the password.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) username: String,
    pub(crate) password: Password,
}

impl Browser {
    /// The public half of `connector`, for `GET /oauth/connectors/{id}`.
    pub(crate) fn public(&self, connector: &Connector) -> ConnectorInfo {
        ConnectorInfo {
            id: connector.id.clone(),
            authorize_url: connector.provider.authorize_url(),
            client_id: connector.client_id.clone(),
            scope: connector.scopes.to_string(),
            redirect_uris: self.redirect_uris.clone(),
            prompt: self.prompt.map(|p| p.as_str().to_owned()),
            domain_hint: self.domain_hint.clone(),
            issuer: connector.provider.issuer(),
            authorization_response_iss_parameter_supported: connector.provider.iss_parameter_supported(),
            admin_consent_url: match &connector.provider {
                Provider::Microsoft(microsoft) => {
                    self.redirect_uris.first().and_then(|uri| microsoft.admin_consent_url(&connector.client_id, &connector.scopes, uri, ADMIN_CONSENT_STATE))
                }
                Provider::Generic(_) => None,
            },
        }
    }
}

#[cfg(test)]
impl Connector {
    /// A Zoom browser connector `zoom` with a client secret and `redirect_uri`, for the unit
    /// tests of what takes a connector.
    pub(crate) fn test(redirect_uri: &str) -> Connector {
        let (provider, credential) = (Provider::zoom(), Credential::Secret { secret: ClientSecret::new("s"), in_body: false });
        Connector {
            id: "zoom".into(),
            client: crate::grant::client("c", &provider.token_url(), &credential).unwrap(),
            provider,
            client_id: "c".into(),
            scopes: Scopes::parse("meeting:write").unwrap(),
            credential,
            timeout: Duration::from_secs(1),
            expiry_margin: 300,
            role: Role::Browser(Browser { redirect_uris: vec![redirect_uri.into()], prompt: None, domain_hint: None, backend_access: false }),
        }
    }
}

/// Every setting, validated.
#[derive(Debug)]
pub(crate) struct Config {
    allowed_origins: Vec<String>,
    connectors: BTreeMap<String, Connector>,
    pub(crate) session_keys: SessionKeys,
    /// Seconds.
    pub(crate) session_idle: u64,
    /// Seconds.
    pub(crate) session_max: u64,
    /// `USER_TICKET_KEYS` and what goes with it: sessions belong to the webmail's users.
    pub(crate) users: Option<Users>,
}

secret_type! {
    /// `USER_ID_KEY`: the HMAC key that names each user's object.
    pub(crate) struct UserIdKey(Vec<u8>);
}

/// One of the webmail back end's ticket keys: an Ed25519 public key and its id.
#[derive(Debug)]
pub(crate) struct TicketKey {
    pub(crate) kid: String,
    pub(crate) public_key: [u8; 32],
}

/// User binding: who may vouch for a user, how users' objects are named, and who may act for them.
#[derive(Debug)]
pub(crate) struct Users {
    /// Newest first.
    pub(crate) ticket_keys: Vec<TicketKey>,
    pub(crate) id_key: UserIdKey,
    /// `BACKEND_API_KEYS`; without it the `users` routes serve nobody.
    pub(crate) backend_keys: Option<ApiKeys>,
}

impl Users {
    /// `USER_TICKET_KEYS`, `USER_ID_KEY` and `BACKEND_API_KEYS`; `None` without the first (and
    /// then the others must not be set either, since nothing would use them).
    fn read(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Users>, EdgeError> {
        let Some(keys) = get("USER_TICKET_KEYS").filter(|k| !k.trim().is_empty()) else {
            for setting in ["USER_ID_KEY", "BACKEND_API_KEYS"] {
                if get(setting).is_some() {
                    return Err(invalid(setting, "needs USER_TICKET_KEYS: users exist only with user binding"));
                }
            }
            return Ok(None);
        };
        let mut ticket_keys = Vec::new();
        for item in keys.split_whitespace() {
            let parsed = item.split_once(':').and_then(|(kid, key)| {
                let key: [u8; 32] = base64_decode(key).filter(|_| key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))?.try_into().ok()?;
                (!kid.is_empty() && kid.len() <= 128 && kid.bytes().all(|b| b.is_ascii_graphic())).then(|| TicketKey { kid: kid.to_owned(), public_key: key })
            });
            let key = parsed.ok_or_else(|| invalid("USER_TICKET_KEYS", "each key must be <kid>:<base64url of the raw 32-byte Ed25519 public key>"))?;
            if ticket_keys.iter().any(|k: &TicketKey| k.kid == key.kid) {
                return Err(invalid("USER_TICKET_KEYS", "two keys have the same kid"));
            }
            ticket_keys.push(key);
        }
        let id_key = get("USER_ID_KEY").ok_or_else(|| missing("USER_ID_KEY"))?;
        if id_key.len() < 32 {
            return Err(invalid("USER_ID_KEY", "must be at least 32 characters (e.g. `openssl rand -base64 32`)"));
        }
        let backend_keys = get("BACKEND_API_KEYS").map(|keys| ApiKeys::parse(&keys).map_err(|problem| invalid("BACKEND_API_KEYS", problem))).transpose()?;
        Ok(Some(Users { ticket_keys, id_key: UserIdKey::new(id_key.into_bytes()), backend_keys }))
    }
}

thread_local! {
    // Bindings cannot change within an isolate, so they are read and checked once.
    static LOADED: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

impl Config {
    /// The settings of this isolate, read and validated on first use.
    pub(crate) fn load(env: &Env) -> Result<Rc<Config>, EdgeError> {
        if let Some(config) = LOADED.with_borrow(Clone::clone) {
            return Ok(config);
        }
        let config = Rc::new(Config::read(&|name| binding(env, name))?);
        LOADED.set(Some(config.clone()));
        Ok(config)
    }

    /// `get` gives a binding as text: a string as it is, anything else as JSON.
    fn read(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, EdgeError> {
        let allowed_origins = origins(&get("ALLOWED_ORIGINS").ok_or_else(|| missing("ALLOWED_ORIGINS"))?)?;
        let connectors = get("CONNECTORS").ok_or_else(|| missing("CONNECTORS"))?;
        // Raw values first, so that an error can name the connector it is in.
        let connectors: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(&connectors).map_err(|_| invalid("CONNECTORS", "must be a JSON object of connector id to settings"))?;
        let timeout = Duration::from_millis(number(get, "UPSTREAM_TIMEOUT_MS", 10_000)?);
        let connectors: BTreeMap<String, Connector> = connectors
            .into_iter()
            .map(|(id, settings)| Ok((id.clone(), connector::connector(id, &settings, timeout, get)?)))
            .collect::<Result<_, EdgeError>>()?;
        let session_keys = SessionKeys::read(get)?;
        let users = Users::read(get)?;
        if let Some(id) = connectors.iter().find_map(|(id, c)| matches!(&c.role, Role::Browser(b) if b.backend_access).then_some(id)) {
            if users.as_ref().is_none_or(|u| u.backend_keys.is_none()) {
                return Err(invalid(&format!("CONNECTORS.{id}.backend_access"), "needs USER_TICKET_KEYS, USER_ID_KEY and BACKEND_API_KEYS"));
            }
        }
        Ok(Config {
            users,
            allowed_origins,
            connectors,
            session_keys,
            session_idle: number(get, "SESSION_IDLE_SECONDS", 14 * 86_400)?,
            session_max: number(get, "SESSION_MAX_SECONDS", 90 * 86_400)?,
        })
    }

    /// The browser connector with this id, and what makes it one. App-token connectors are not
    /// offered to browsers: to the browser routes they do not exist.
    pub(crate) fn browser(&self, id: &str) -> Result<(&Connector, &Browser), EdgeError> {
        match self.connectors.get(id) {
            Some(connector @ Connector { role: Role::Browser(browser), .. }) => Ok((connector, browser)),
            _ => Err(EdgeError::UnknownConnector),
        }
    }

    /// The browser connector with this id.
    pub(crate) fn connector(&self, id: &str) -> Result<&Connector, EdgeError> {
        self.browser(id).map(|(connector, _)| connector)
    }

    /// The app-token connector with this id, and what makes it one.
    pub(crate) fn app_connector(&self, id: &str) -> Result<(&Connector, &App), EdgeError> {
        match self.connectors.get(id) {
            Some(connector @ Connector { role: Role::App(app), .. }) => Ok((connector, app)),
            Some(_) => Err(EdgeError::AppTokensNotEnabled),
            None => Err(EdgeError::UnknownConnector),
        }
    }

    /// Every browser connector's id.
    pub(crate) fn connector_ids(&self) -> impl Iterator<Item = &str> {
        self.connectors.iter().filter(|(_, c)| matches!(c.role, Role::Browser(_))).map(|(id, _)| id.as_str())
    }

    /// Whether `origin` (an `Origin` header) may call the API.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// A binding as text: a string (secrets, `.dev.vars`, `--var`) as it is; a number, array or
/// object (TOML values in `[vars]`) as JSON. Absent bindings are `None`.
fn binding(env: &Env, name: &str) -> Option<String> {
    let raw: &JsValue = env.as_ref();
    let value = js_sys::Reflect::get(raw, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())?;
    value.as_string().or_else(|| js_sys::JSON::stringify(&value).ok()?.as_string())
}

fn missing(setting: &str) -> EdgeError {
    EdgeError::Config { setting: setting.to_owned(), problem: "is not set".into() }
}

fn invalid(setting: &str, problem: impl std::fmt::Display) -> EdgeError {
    EdgeError::Config { setting: setting.to_owned(), problem: problem.to_string() }
}

fn number(get: &dyn Fn(&str) -> Option<String>, name: &str, default: u64) -> Result<u64, EdgeError> {
    match get(name) {
        None => Ok(default),
        Some(text) => text.trim().trim_matches('"').parse().ok().filter(|&n| n > 0).ok_or_else(|| invalid(name, "must be a positive whole number")),
    }
}

/// A JSON array of origins, or a list separated by spaces or commas.
fn origins(text: &str) -> Result<Vec<String>, EdgeError> {
    let list: Vec<String> =
        if text.trim_start().starts_with('[') { serde_json::from_str(text).unwrap_or_default() } else { list(text).map(str::to_owned).collect() };
    if list.is_empty() {
        return Err(invalid("ALLOWED_ORIGINS", "must list at least one origin, e.g. https://mail.example.com"));
    }
    for origin in &list {
        // An origin is scheme://host[:port] exactly, as browsers send it.
        if !Endpoint::parse(origin).is_ok_and(|e| e.origin() == origin) {
            return Err(invalid("ALLOWED_ORIGINS", format!("{origin:?} is not an origin (https://host[:port], http:// only for loopback, no path)")));
        }
    }
    Ok(list)
}
