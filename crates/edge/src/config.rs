//! Settings: non-secret `[vars]` from `wrangler.toml` and Worker secrets (`wrangler secret put`,
//! `.dev.vars` locally), validated together at the first request of an isolate.
//!
//! | binding | kind | meaning |
//! |---|---|---|
//! | `ALLOWED_ORIGINS` | var | browser origins allowed to call the API (JSON array, or separated by spaces/commas) |
//! | `CONNECTORS` | var | JSON object: connector id → [`ConnectorSettings`] |
//! | `SESSION_IDLE_SECONDS` | var | a session unused this long ends (default 14 days) |
//! | `SESSION_MAX_SECONDS` | var | a session ends this long after it began, used or not (default 90 days) |
//! | `UPSTREAM_TIMEOUT_MS` | var | how long to wait for a token endpoint (default 10000) |
//! | `SESSION_KEY` | secret | at least 32 characters; the key that encrypts every session's tokens |
//! | `{ID}_CLIENT_SECRET` | secret | a connector's client secret (`outlook-mail` → `OUTLOOK_MAIL_CLIENT_SECRET`) |
//! | `{ID}_PRIVATE_KEY` | secret | a connector's certificate key, PKCS#8 PEM (`private_key_jwt`) |
//! | `{ID}_API_KEYS` | secret | an app-token connector's API keys, separated by spaces or commas |
//! | `{ID}_PASSWORD` | secret | a `grant = "password"` connector's service mailbox password |
//!
//! A missing or malformed setting answers every request with a `configuration` error naming
//! the setting, until it is fixed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use mailconnect_core::contract::{ConnectorInfo, ADMIN_CONSENT_STATE};
use mailconnect_core::encoding::{base64_decode, base64url};
use mailconnect_core::{Authority, ClientSecret, Endpoint, Generic, Microsoft, Password, Prompt, Provider, Scopes, Tenant};
use serde::Deserialize;
use serde_json::value::RawValue;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::api_key::ApiKeys;
use crate::error::EdgeError;

/// One connector as written in `CONNECTORS`. Unknown fields are refused, so a typo is reported
/// instead of silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorSettings {
    /// `microsoft`, `zoom` or `generic`.
    provider: String,
    /// Microsoft: `common`, `organizations`, `consumers`, a tenant id or a verified domain.
    tenant: Option<String>,
    /// Microsoft: the cloud's sign-in host (default `https://login.microsoftonline.com`).
    /// Zoom: the base URL of `/oauth/authorize` and `/oauth/token` (default `https://zoom.us`).
    authority: Option<String>,
    /// Generic: the authorization endpoint.
    authorize_url: Option<String>,
    /// Generic: the token endpoint.
    token_url: Option<String>,
    /// Generic: the token revocation endpoint (RFC 7009), if the provider has one.
    revocation_url: Option<String>,
    /// Generic: the issuer, for RFC 9207 `iss` checks in the browser.
    issuer: Option<String>,
    client_id: String,
    /// Space-separated scopes.
    scope: String,
    /// The redirect URIs the browser may use; the first is the default. None for app grants.
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// `login`, `consent`, `select_account` or `none`.
    prompt: Option<String>,
    domain_hint: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`.
    client_auth: Option<String>,
    /// `private_key_jwt`: the certificate's SHA-1 thumbprint in hex, as the Entra portal shows it.
    certificate_thumbprint: Option<String>,
    /// `authorization_code` (default: a browser connector), `client_credentials` or `password`
    /// (the last two: app tokens for mail servers, `POST /oauth/connectors/{id}/app-token`).
    grant: Option<String>,
    /// `password`: the service mailbox's user name; its password is the secret `{ID}_PASSWORD`.
    username: Option<String>,
    /// Seconds before `expires_at` from which an access token counts as expired (default 300).
    token_expiry_margin: Option<u64>,
}

/// The key that session keys are derived from. `Debug` is redacted.
pub(crate) struct SessionKey(Vec<u8>);

impl SessionKey {
    /// The key material.
    ///
    /// **Warning:** feed it only to the key derivation.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// A certificate's private key (PKCS#8 DER) and the `x5t` to name it. `Debug` is redacted.
pub(crate) struct Certificate {
    /// The secret's binding name, for errors.
    pub(crate) setting: String,
    pkcs8: Vec<u8>,
    /// base64url SHA-1 thumbprint.
    pub(crate) x5t: String,
}

impl Certificate {
    /// The PKCS#8 DER.
    ///
    /// **Warning:** hand it only to WebCrypto's `importKey`.
    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate").field("setting", &self.setting).field("x5t", &self.x5t).finish_non_exhaustive()
    }
}

/// How a connector proves who it is at the token endpoint.
#[derive(Debug)]
pub(crate) enum Credential {
    /// A client secret, in an HTTP Basic header or (`in_body`) in the form.
    Secret { secret: ClientSecret, in_body: bool },
    /// An RFC 7523 client assertion signed with a certificate's key.
    Certificate(Certificate),
}

/// The service mailbox of a `grant = "password"` connector. `Debug` redacts the password.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) username: String,
    pub(crate) password: Password,
}

/// What a connector that serves mail servers instead of browsers has.
#[derive(Debug)]
pub(crate) struct AppGrant {
    /// Who may ask for its tokens.
    pub(crate) api_keys: ApiKeys,
    /// `Some` for the resource owner password grant, `None` for client credentials.
    pub(crate) mailbox: Option<Mailbox>,
}

/// Access tokens with less than this left are renewed unless a connector says otherwise: the
/// margin MSAL uses, so that a token handed out is still good when its request reaches the resource.
const DEFAULT_EXPIRY_MARGIN_SECONDS: u64 = 300;

/// A validated connector.
#[derive(Debug)]
pub(crate) struct Connector {
    pub(crate) id: String,
    pub(crate) provider: Provider,
    pub(crate) client_id: String,
    pub(crate) scopes: Scopes,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) domain_hint: Option<String>,
    pub(crate) credential: Credential,
    /// How long to wait for the token endpoint (`UPSTREAM_TIMEOUT_MS`).
    pub(crate) timeout: Duration,
    /// `token_expiry_margin`, in seconds.
    pub(crate) expiry_margin: u64,
    /// `Some` for an app-token connector, which browsers never see.
    pub(crate) app: Option<AppGrant>,
}

impl Connector {
    /// The public half, for `GET /oauth/connectors/{id}`.
    pub(crate) fn public(&self) -> ConnectorInfo {
        ConnectorInfo {
            id: self.id.clone(),
            authorize_url: self.provider.authorize_url(),
            client_id: self.client_id.clone(),
            scope: self.scopes.to_string(),
            redirect_uris: self.redirect_uris.clone(),
            prompt: self.prompt.map(|p| p.as_str().to_owned()),
            domain_hint: self.domain_hint.clone(),
            issuer: self.provider.issuer(),
            admin_consent_url: match &self.provider {
                Provider::Microsoft(microsoft) => {
                    self.redirect_uris.first().and_then(|uri| microsoft.admin_consent_url(&self.client_id, &self.scopes, uri, ADMIN_CONSENT_STATE))
                }
                Provider::Generic(_) => None,
            },
        }
    }
}

/// Every setting, validated.
#[derive(Debug)]
pub(crate) struct Config {
    allowed_origins: Vec<String>,
    connectors: BTreeMap<String, Connector>,
    pub(crate) session_key: SessionKey,
    /// Seconds.
    pub(crate) session_idle: u64,
    /// Seconds.
    pub(crate) session_max: u64,
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
        let connectors =
            connectors.into_iter().map(|(id, settings)| Ok((id.clone(), connector(id, &settings, timeout, get)?))).collect::<Result<_, EdgeError>>()?;
        let session_key = match get("SESSION_KEY") {
            Some(key) if key.len() >= 32 => SessionKey(key.into_bytes()),
            Some(_) => return Err(invalid("SESSION_KEY", "must be at least 32 characters (e.g. `openssl rand -base64 32`)")),
            None => return Err(missing("SESSION_KEY")),
        };
        Ok(Config {
            allowed_origins,
            connectors,
            session_key,
            session_idle: number(get, "SESSION_IDLE_SECONDS", 14 * 86_400)?,
            session_max: number(get, "SESSION_MAX_SECONDS", 90 * 86_400)?,
        })
    }

    /// The browser connector with this id. App-token connectors are not offered to browsers:
    /// to the browser routes they do not exist.
    pub(crate) fn connector(&self, id: &str) -> Result<&Connector, EdgeError> {
        self.connectors.get(id).filter(|c| c.app.is_none()).ok_or(EdgeError::UnknownConnector)
    }

    /// The app-token connector with this id, and its grant.
    pub(crate) fn app_connector(&self, id: &str) -> Result<(&Connector, &AppGrant), EdgeError> {
        let connector = self.connectors.get(id).ok_or(EdgeError::UnknownConnector)?;
        Ok((connector, connector.app.as_ref().ok_or(EdgeError::AppTokensNotEnabled)?))
    }

    /// Every browser connector's id.
    pub(crate) fn connector_ids(&self) -> impl Iterator<Item = &str> {
        self.connectors.iter().filter(|(_, c)| c.app.is_none()).map(|(id, _)| id.as_str())
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
    let list: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).unwrap_or_default()
    } else {
        text.split([' ', ',', '\n']).filter(|o| !o.is_empty()).map(str::to_owned).collect()
    };
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

/// `outlook-mail` → `OUTLOOK_MAIL`.
fn secret_prefix(id: &str) -> String {
    id.replace('-', "_").to_ascii_uppercase()
}

fn connector(id: String, settings: &RawValue, timeout: Duration, get: &dyn Fn(&str) -> Option<String>) -> Result<Connector, EdgeError> {
    let at = |field: &str| format!("CONNECTORS.{id}.{field}");
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(invalid(&format!("CONNECTORS.{id}"), "connector ids are 1-32 characters of a-z, 0-9 and -"));
    }
    let s: ConnectorSettings = serde_json::from_str(settings.get()).map_err(|e| invalid(&format!("CONNECTORS.{id}"), e))?;
    let required = |value: Option<String>, field: &str| value.ok_or_else(|| missing(&at(field)));
    let app_grant = match s.grant.as_deref().unwrap_or("authorization_code") {
        "authorization_code" => None,
        grant @ ("client_credentials" | "password") => Some(grant),
        other => return Err(invalid(&at("grant"), format!("{other:?} is not one of authorization_code, client_credentials, password"))),
    };
    let provider = match s.provider.as_str() {
        "microsoft" => {
            let tenant = Tenant::parse(&required(s.tenant, "tenant")?).map_err(|e| invalid(&at("tenant"), e))?;
            // An app-only token is one tenant's: Entra refuses client credentials at
            // common/organizations/consumers, and a service mailbox too lives in one tenant.
            // Better said at load than at the first mail server's request.
            if let Some(grant) = app_grant.filter(|_| !tenant.is_specific()) {
                return Err(invalid(
                    &at("tenant"),
                    format!("grant = {grant:?} needs a specific tenant (its ID or a verified domain), not {:?}", tenant.as_str()),
                ));
            }
            let mut microsoft = Microsoft::new(tenant);
            if let Some(authority) = s.authority {
                microsoft = microsoft.with_authority(Authority::parse(&authority).map_err(|e| invalid(&at("authority"), e))?);
            }
            Provider::Microsoft(microsoft)
        }
        "zoom" => match s.authority {
            Some(base) => Provider::zoom_at(&Endpoint::parse(&base).map_err(|e| invalid(&at("authority"), e))?),
            None => Provider::zoom(),
        },
        "generic" => Provider::Generic(Generic {
            authorize_url: Endpoint::parse(&required(s.authorize_url, "authorize_url")?).map_err(|e| invalid(&at("authorize_url"), e))?,
            token_url: Endpoint::parse(&required(s.token_url, "token_url")?).map_err(|e| invalid(&at("token_url"), e))?,
            issuer: s.issuer,
            revocation_url: s.revocation_url.as_deref().map(Endpoint::parse).transpose().map_err(|e| invalid(&at("revocation_url"), e))?,
        }),
        other => return Err(invalid(&at("provider"), format!("{other:?} is not one of microsoft, zoom, generic"))),
    };
    // Zoom's revocation endpoint follows from its base URL and Entra ID has none: set for them,
    // it would be ignored while looking as if it revoked something.
    if s.revocation_url.is_some() && s.provider != "generic" {
        return Err(invalid(&at("revocation_url"), "is only for provider = \"generic\" (zoom's follows from authority; Entra ID has none)"));
    }
    let scopes = Scopes::parse(&s.scope).map_err(|e| invalid(&at("scope"), e))?;
    provider.check_scopes(&scopes).map_err(|e| invalid(&at("scope"), e))?;
    if app_grant == Some("client_credentials") && matches!(provider, Provider::Microsoft(_)) && !scopes.iter().all(|s| s.is_default()) {
        return Err(invalid(&at("scope"), "client credentials take only {resource}/.default, e.g. https://outlook.office365.com/.default"));
    }
    if s.client_id.trim().is_empty() {
        return Err(missing(&at("client_id")));
    }
    if app_grant.is_some() {
        // Not offered to browsers: a redirect URI or a prompt would suggest otherwise.
        for (field, set) in [("redirect_uris", !s.redirect_uris.is_empty()), ("prompt", s.prompt.is_some()), ("domain_hint", s.domain_hint.is_some())] {
            if set {
                return Err(invalid(&at(field), "is for browser connectors; remove it from an app-token connector"));
            }
        }
    } else if s.redirect_uris.is_empty() {
        return Err(invalid(&at("redirect_uris"), "must list at least one redirect URI"));
    }
    for uri in &s.redirect_uris {
        Endpoint::parse(uri).map_err(|e| invalid(&at("redirect_uris"), e))?;
    }
    if s.username.is_some() && app_grant != Some("password") {
        return Err(invalid(&at("username"), "is only for grant = \"password\""));
    }
    let prompt = s.prompt.map(|p| Prompt::parse(&p).ok_or_else(|| invalid(&at("prompt"), "must be login, consent, select_account or none"))).transpose()?;
    let secret = |suffix: &str| {
        let name = format!("{}_{suffix}", secret_prefix(&id));
        match get(&name) {
            Some(value) if !value.trim().is_empty() => Ok((name, value)),
            _ => Err(missing(&name)),
        }
    };
    let client_auth = s.client_auth.as_deref().unwrap_or("client_secret_basic");
    // Zoom's token endpoint takes the client's credentials only in an HTTP Basic header: any other
    // method would fail at the first sign-in, so it is refused here, where the setting is named.
    if s.provider == "zoom" && client_auth != "client_secret_basic" {
        return Err(invalid(&at("client_auth"), "zoom takes only client_secret_basic (HTTP Basic at its token endpoint)"));
    }
    let credential = match client_auth {
        method @ ("client_secret_basic" | "client_secret_post") => {
            Credential::Secret { secret: ClientSecret::new(secret("CLIENT_SECRET")?.1), in_body: method == "client_secret_post" }
        }
        "private_key_jwt" => {
            let thumbprint = required(s.certificate_thumbprint, "certificate_thumbprint")?;
            let x5t = x5t(&thumbprint).ok_or_else(|| invalid(&at("certificate_thumbprint"), "must be the SHA-1 thumbprint: 40 hex digits"))?;
            let (setting, pem) = secret("PRIVATE_KEY")?;
            let pkcs8 = pkcs8_der(&pem)
                .ok_or_else(|| invalid(&setting, "must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); convert with `openssl pkcs8 -topk8 -nocrypt`"))?;
            Credential::Certificate(Certificate { setting, pkcs8, x5t })
        }
        other => return Err(invalid(&at("client_auth"), format!("{other:?} is not one of client_secret_basic, client_secret_post, private_key_jwt"))),
    };
    let app = match app_grant {
        None => None,
        Some(grant) => {
            let (setting, keys) = secret("API_KEYS")?;
            let api_keys = ApiKeys::parse(&keys).map_err(|problem| invalid(&setting, problem))?;
            let mailbox = match grant {
                "password" => Some(Mailbox {
                    username: required(s.username, "username")?,
                    // Only ever from the Worker's secrets: the endpoint has no password field.
                    password: Password::new(secret("PASSWORD")?.1),
                }),
                _ => None,
            };
            Some(AppGrant { api_keys, mailbox })
        }
    };
    let expiry_margin = s.token_expiry_margin.unwrap_or(DEFAULT_EXPIRY_MARGIN_SECONDS);
    if expiry_margin > 86_400 {
        return Err(invalid(&at("token_expiry_margin"), "must be at most 86400 seconds"));
    }
    Ok(Connector {
        id,
        provider,
        client_id: s.client_id,
        scopes,
        redirect_uris: s.redirect_uris,
        prompt,
        domain_hint: s.domain_hint,
        credential,
        timeout,
        expiry_margin,
        app,
    })
}

/// The hex SHA-1 thumbprint (colons and case ignored) as a JWS `x5t`: base64url of its bytes.
fn x5t(hex: &str) -> Option<String> {
    let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 40 {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = digits.chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect::<Option<Vec<u8>>>()?;
    Some(base64url(&bytes))
}

/// The DER inside a `PRIVATE KEY` PEM block (PKCS#8; `RSA PRIVATE KEY` is PKCS#1 and refused).
fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    // `.dev.vars` and some secret stores keep newlines as a literal `\n`.
    let pem = pem.replace("\\n", "\n");
    let body = pem.split("-----BEGIN PRIVATE KEY-----").nth(1)?.split("-----END PRIVATE KEY-----").next()?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64_decode(&base64).filter(|der| der.len() > 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn settings() -> serde_json::Map<String, Value> {
        let v = json!({
            "ALLOWED_ORIGINS": "http://localhost:8787",
            "SESSION_KEY": "0123456789abcdef0123456789abcdef",
            "TEAMS_CLIENT_SECRET": "s3cr3t",
            "CONNECTORS": {
                "teams": {
                    "provider": "microsoft", "tenant": "common", "authority": "http://127.0.0.1:9010",
                    "client_id": "teams-client", "scope": "openid profile User.Read offline_access",
                    "redirect_uris": ["http://localhost:8787/callback"]
                }
            }
        });
        let Value::Object(map) = v else { unreachable!() };
        map
    }

    fn read(map: &serde_json::Map<String, Value>) -> Result<Config, EdgeError> {
        // As `binding` gives them: strings as they are, the rest as JSON.
        Config::read(&|name| map.get(name).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
    }

    fn failing_setting(map: &serde_json::Map<String, Value>) -> String {
        match read(map).unwrap_err() {
            EdgeError::Config { setting, .. } => setting,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn dev_settings_parse_and_derive_microsoft_endpoints() {
        let config = read(&settings()).unwrap();
        let teams = config.connector("teams").unwrap();
        assert_eq!(teams.public().authorize_url, "http://127.0.0.1:9010/common/oauth2/v2.0/authorize");
        assert_eq!(teams.provider.token_url(), "http://127.0.0.1:9010/common/oauth2/v2.0/token");
        assert!(matches!(teams.credential, Credential::Secret { in_body: false, .. }));
        assert!(config.allows_origin("http://localhost:8787"));
        assert!(!config.allows_origin("http://localhost:8788"));
        assert_eq!((config.session_idle, teams.timeout), (14 * 86_400, Duration::from_secs(10)));
    }

    #[test]
    fn every_missing_or_malformed_setting_is_named() {
        for (name, patch) in [
            ("SESSION_KEY", json!(null)),
            ("SESSION_KEY", json!("short")),
            ("ALLOWED_ORIGINS", json!("https://mail.example.com/path")),
            ("TEAMS_CLIENT_SECRET", json!(null)),
            ("SESSION_IDLE_SECONDS", json!("soon")),
        ] {
            let mut map = settings();
            match patch {
                Value::Null => map.remove(name),
                value => map.insert(name.into(), value),
            };
            assert_eq!(failing_setting(&map), name);
        }
        for (field, value, setting) in [
            ("tenant", json!("not a tenant"), "CONNECTORS.teams.tenant"),
            ("scope", json!("User.Read https://outlook.office.com/SMTP.Send"), "CONNECTORS.teams.scope"),
            ("redirect_uris", json!(["http://evil.example/cb"]), "CONNECTORS.teams.redirect_uris"),
            ("client_auth", json!("private_key_jwt"), "CONNECTORS.teams.certificate_thumbprint"),
            ("colour", json!("blue"), "CONNECTORS.teams"),
        ] {
            let mut map = settings();
            map["CONNECTORS"]["teams"][field] = value;
            assert_eq!(failing_setting(&map), setting, "{field}");
        }
    }

    #[test]
    fn connectors_may_come_as_a_json_string_and_secrets_follow_the_id() {
        let mut map = settings();
        let mut connectors = map["CONNECTORS"].clone();
        connectors["outlook-mail"] = connectors["teams"].clone();
        map.insert("CONNECTORS".into(), Value::String(connectors.to_string()));
        assert_eq!(failing_setting(&map), "OUTLOOK_MAIL_CLIENT_SECRET");
        map.insert("OUTLOOK_MAIL_CLIENT_SECRET".into(), json!("x"));
        assert!(read(&map).unwrap().connector("outlook-mail").is_ok());
    }

    #[test]
    fn thumbprint_becomes_x5t_and_pem_must_be_pkcs8() {
        // SHA-1("abc"), a well-known vector.
        assert_eq!(
            x5t("A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D").unwrap(),
            base64url(&[0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d])
        );
        assert_eq!(x5t("abc"), None);
        let body = base64url(&[7u8; 100]);
        assert_eq!(pkcs8_der(&format!("-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n")).unwrap(), vec![7u8; 100]);
        assert_eq!(pkcs8_der(&format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----")), None);
    }

    #[test]
    fn committed_wrangler_toml_vars_are_valid_settings() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wrangler.toml")).unwrap();
        let wrangler: toml::Table = toml::from_str(&text).unwrap();
        let mut map = serde_json::Map::new();
        for (name, value) in wrangler["vars"].as_table().unwrap() {
            map.insert(name.clone(), serde_json::to_value(value).unwrap());
        }
        // The secrets, as .dev.vars.example names them.
        for secret in ["SESSION_KEY", "TEAMS_CLIENT_SECRET", "OUTLOOK_MAIL_CLIENT_SECRET"] {
            map.insert(secret.into(), json!("0123456789abcdef0123456789abcdef"));
        }
        let config = read(&map).unwrap();
        assert_eq!(config.connector_ids().collect::<Vec<_>>(), ["outlook-mail", "teams"]);
        assert!(config.allows_origin("http://localhost:8787"));
        assert_eq!(config.connector("teams").unwrap().public().redirect_uris, ["http://localhost:8787/callback"]);
    }

    const API_KEY: &str = "k7Qm1c0Jt1W9S3eVb2rP8xYzL4nH6gDf";

    /// `settings()` plus an app-token connector `relay` with `grant`.
    fn with_relay(grant: &str) -> serde_json::Map<String, Value> {
        let relay = json!({
            "provider": "microsoft", "tenant": "contoso.onmicrosoft.com", "authority": "http://127.0.0.1:9010",
            "client_id": "relay-client", "scope": "https://outlook.office365.com/.default", "grant": grant
        });
        let mut map = with_connector("relay", relay, json!({}));
        map.insert("RELAY_API_KEYS".into(), json!(format!("{API_KEY}, {API_KEY}-next")));
        map
    }

    #[test]
    fn client_credentials_connector_is_hidden_from_browser_routes() {
        let config = read(&with_relay("client_credentials")).unwrap();
        let (relay, app) = config.app_connector("relay").unwrap();
        assert!(app.mailbox.is_none() && app.api_keys.verify(&format!("{API_KEY}-next")).unwrap());
        assert_eq!((relay.expiry_margin, relay.provider.token_url().as_str()), (300, "http://127.0.0.1:9010/contoso.onmicrosoft.com/oauth2/v2.0/token"));
        assert!(matches!(config.connector("relay"), Err(EdgeError::UnknownConnector)));
        assert!(matches!(config.app_connector("teams"), Err(EdgeError::AppTokensNotEnabled)));
        assert_eq!(config.connector_ids().collect::<Vec<_>>(), ["teams"]);
    }

    #[test]
    fn client_credentials_need_a_specific_tenant() {
        for tenant in ["common", "organizations", "consumers"] {
            let mut map = with_relay("client_credentials");
            map["CONNECTORS"]["relay"]["tenant"] = json!(tenant);
            let EdgeError::Config { setting, problem } = read(&map).unwrap_err() else { panic!("not a configuration error") };
            assert_eq!(setting, "CONNECTORS.relay.tenant");
            assert!(problem.contains("client_credentials") && problem.contains(tenant), "{problem}");
        }
        let mut map = with_relay("client_credentials");
        map["CONNECTORS"]["relay"]["tenant"] = json!("c0ffee00-1a2b-4c3d-8e9f-0123456789ab");
        assert!(read(&map).is_ok());
    }

    #[test]
    fn app_token_settings_are_checked_and_named() {
        for (grant, field, value, setting) in [
            ("client_credentials", "scope", json!("https://outlook.office365.com/SMTP.SendAsApp"), "CONNECTORS.relay.scope"),
            ("client_credentials", "redirect_uris", json!(["http://localhost:8787/callback"]), "CONNECTORS.relay.redirect_uris"),
            ("client_credentials", "username", json!("relay@contoso.dev"), "CONNECTORS.relay.username"),
            ("client_credentials", "token_expiry_margin", json!(-1), "CONNECTORS.relay"),
            ("client_credentials", "token_expiry_margin", json!(100_000), "CONNECTORS.relay.token_expiry_margin"),
            ("implicit", "grant", json!("implicit"), "CONNECTORS.relay.grant"),
        ] {
            let mut map = with_relay(grant);
            map["CONNECTORS"]["relay"][field] = value;
            assert_eq!(failing_setting(&map), setting, "{field}");
        }
        let mut map = with_relay("client_credentials");
        map.remove("RELAY_API_KEYS");
        assert_eq!(failing_setting(&map), "RELAY_API_KEYS");
        map.insert("RELAY_API_KEYS".into(), json!("too-short"));
        assert_eq!(failing_setting(&map), "RELAY_API_KEYS");
    }

    #[test]
    fn password_grant_needs_a_username_and_the_password_secret() {
        let mut map = with_relay("password");
        map["CONNECTORS"]["relay"]["scope"] = json!("https://outlook.office.com/SMTP.Send");
        assert_eq!(failing_setting(&map), "CONNECTORS.relay.username");
        map["CONNECTORS"]["relay"]["username"] = json!("relay@contoso.dev");
        assert_eq!(failing_setting(&map), "RELAY_PASSWORD");
        map.insert("RELAY_PASSWORD".into(), json!("mailbox-pa55word"));
        map["CONNECTORS"]["relay"]["token_expiry_margin"] = json!(30);
        let config = read(&map).unwrap();
        let (relay, app) = config.app_connector("relay").unwrap();
        assert_eq!((app.mailbox.as_ref().unwrap().username.as_str(), relay.expiry_margin), ("relay@contoso.dev", 30));
        let debug = format!("{config:?}");
        assert!(!debug.contains("mailbox-pa55word") && !debug.contains(API_KEY) && !debug.contains("relay-s3cr3t"), "{debug}");
    }

    /// `settings()` plus connector `id` (`defaults` with `fields` over them) and its client secret.
    fn with_connector(id: &str, mut connector: Value, fields: Value) -> serde_json::Map<String, Value> {
        let mut map = settings();
        for (field, value) in fields.as_object().unwrap() {
            connector[field] = value.clone();
        }
        map["CONNECTORS"][id] = connector;
        map.insert(format!("{}_CLIENT_SECRET", id.to_uppercase()), json!(format!("{id}-s3cr3t")));
        map
    }

    /// `settings()` plus a Zoom connector `zoom` with `fields` over its defaults.
    fn with_zoom(fields: Value) -> serde_json::Map<String, Value> {
        let zoom = json!({
            "provider": "zoom", "client_id": "zoom-client", "scope": "meeting:write",
            "redirect_uris": ["http://localhost:8787/callback"]
        });
        with_connector("zoom", zoom, fields)
    }

    #[test]
    fn zoom_uses_its_endpoints_or_a_base_url_and_http_basic() {
        let config = read(&with_zoom(json!({}))).unwrap();
        let zoom = config.connector("zoom").unwrap();
        assert_eq!(
            (zoom.public().authorize_url.as_str(), zoom.provider.token_url().as_str()),
            ("https://zoom.us/oauth/authorize", "https://zoom.us/oauth/token")
        );
        assert!(matches!(zoom.credential, Credential::Secret { in_body: false, .. }));
        let config = read(&with_zoom(json!({ "authority": "http://127.0.0.1:9010", "client_auth": "client_secret_basic" }))).unwrap();
        assert_eq!(config.connector("zoom").unwrap().provider.token_url(), "http://127.0.0.1:9010/oauth/token");
        for (field, value) in
            [("client_auth", json!("client_secret_post")), ("client_auth", json!("private_key_jwt")), ("authority", json!("http://zoom.example"))]
        {
            assert_eq!(failing_setting(&with_zoom(json!({ field: value }))), format!("CONNECTORS.zoom.{field}"), "{value}");
        }
    }

    /// `settings()` plus a generic connector `idp` with `fields` over its defaults.
    fn with_generic(fields: Value) -> serde_json::Map<String, Value> {
        let idp = json!({
            "provider": "generic", "authorize_url": "https://idp.example/authorize", "token_url": "https://idp.example/token",
            "client_id": "idp-client", "scope": "openid offline_access", "redirect_uris": ["http://localhost:8787/callback"]
        });
        with_connector("idp", idp, fields)
    }

    #[test]
    fn generic_revocation_url_is_optional_and_an_endpoint_like_the_others() {
        let revocation_url = |map| read(&map).unwrap().connector("idp").unwrap().provider.revocation_url();
        assert_eq!(revocation_url(with_generic(json!({}))), None);
        for ok in ["https://idp.example/oauth/revoke", "http://127.0.0.1:9010/revoke"] {
            assert_eq!(revocation_url(with_generic(json!({ "revocation_url": ok }))).as_deref(), Some(ok));
        }
        for bad in ["https://idp.example/revoke?x=1", "http://idp.example/revoke", "not a url"] {
            assert_eq!(failing_setting(&with_generic(json!({ "revocation_url": bad }))), "CONNECTORS.idp.revocation_url", "{bad}");
        }
    }

    #[test]
    fn revocation_url_is_refused_where_the_provider_decides_it() {
        let mut map = with_zoom(json!({ "revocation_url": "https://zoom.us/oauth/revoke" }));
        assert_eq!(failing_setting(&map), "CONNECTORS.zoom.revocation_url");
        map["CONNECTORS"]["zoom"].as_object_mut().unwrap().remove("revocation_url");
        map["CONNECTORS"]["teams"]["revocation_url"] = json!("https://login.microsoftonline.com/common/oauth2/v2.0/logout");
        assert_eq!(failing_setting(&map), "CONNECTORS.teams.revocation_url");
        let config = read(&with_zoom(json!({}))).unwrap();
        assert_eq!(config.connector("zoom").unwrap().provider.revocation_url().as_deref(), Some("https://zoom.us/oauth/revoke"));
        assert_eq!(config.connector("teams").unwrap().provider.revocation_url(), None);
    }

    #[test]
    fn admin_consent_url_is_offered_for_microsoft_tenants_with_admins_only() {
        let config = read(&with_zoom(json!({}))).unwrap();
        assert_eq!(
            config.connector("teams").unwrap().public().admin_consent_url.unwrap(),
            "http://127.0.0.1:9010/organizations/v2.0/adminconsent?client_id=teams-client&scope=openid+profile+User.Read+offline_access\
             &redirect_uri=http%3A%2F%2Flocalhost%3A8787%2Fcallback&state=mailconnect-admin-consent"
        );
        assert_eq!(config.connector("zoom").unwrap().public().admin_consent_url, None);
        let mut map = settings();
        map["CONNECTORS"]["teams"]["tenant"] = json!("consumers");
        assert_eq!(read(&map).unwrap().connector("teams").unwrap().public().admin_consent_url, None);
    }

    #[test]
    fn debug_output_hides_keys_and_secrets() {
        let config = read(&settings()).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t") && !debug.contains("0123456789abcdef"), "{debug}");
    }
}
