//! One connector's settings, as written in `CONNECTORS`, and their validation into a
//! [`Connector`].
//!
//! The provider, the grant and the client authentication are serde enums, as `oauth2` types
//! its client; what a connector may carry follows from its grant: a browser connector
//! (`authorization_code`) has redirect URIs, a prompt and a domain hint, an app connector
//! (`client_credentials`, `password`) has API keys and, for `password`, a service mailbox.

use std::time::Duration;

use mailconnect_core::encoding::{base64_decode, base64url};
use mailconnect_core::{Authority, ClientSecret, Endpoint, Generic, Microsoft, Password, Prompt, Provider, Scopes, Tenant};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{invalid, missing, App, AppGrant, Browser, Certificate, CertificateKey, Connector, Credential, Mailbox, Role};
use crate::api_key::ApiKeys;
use crate::error::EdgeError;
use crate::grant;

/// Access tokens with less than this left are renewed unless a connector says otherwise: the
/// margin MSAL uses, so that a token handed out is still good when its request reaches the resource.
const DEFAULT_EXPIRY_MARGIN_SECONDS: u64 = 300;

/// `provider`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProviderKind {
    Microsoft,
    Zoom,
    Generic,
}

/// `grant`: the first serves browsers, the others mail servers (app tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GrantKind {
    #[default]
    AuthorizationCode,
    ClientCredentials,
    Password,
}

impl GrantKind {
    fn as_str(self) -> &'static str {
        match self {
            GrantKind::AuthorizationCode => "authorization_code",
            GrantKind::ClientCredentials => "client_credentials",
            GrantKind::Password => "password",
        }
    }
}

/// `client_auth`: how the client proves who it is at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClientAuth {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

/// One connector as written in `CONNECTORS`. Unknown fields are refused, so a typo is reported
/// instead of silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConnectorSettings {
    provider: ProviderKind,
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
    /// Whether the provider puts `iss` in every redirect, as its metadata's
    /// `authorization_response_iss_parameter_supported` says (default: false for Microsoft and
    /// Zoom, whose published metadata does not advertise it, and for generic providers).
    authorization_response_iss_parameter_supported: Option<bool>,
    client_id: String,
    /// Space-separated scopes.
    scope: String,
    /// Browser connectors: the redirect URIs the browser may use; the first is the default.
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// Browser connectors: `login`, `consent`, `select_account` or `none`.
    prompt: Option<String>,
    /// Browser connectors.
    domain_hint: Option<String>,
    #[serde(default)]
    client_auth: ClientAuth,
    /// `private_key_jwt`: the certificate's SHA-1 thumbprint in hex, as the Entra portal shows it.
    certificate_thumbprint: Option<String>,
    #[serde(default)]
    grant: GrantKind,
    /// `password`: the service mailbox's user name; its password is the secret `{ID}_PASSWORD`.
    username: Option<String>,
    /// Seconds before `expires_at` from which an access token counts as expired (default 300).
    token_expiry_margin: Option<u64>,
    /// Browser connectors: the webmail's back end may get its users' tokens (the `users` routes).
    #[serde(default)]
    backend_access: bool,
}

/// Where `settings` fails to parse: the enum field whose value is none of its variants, else
/// the connector as a whole (serde's message then names the field).
fn failing_field(settings: &RawValue) -> Option<&'static str> {
    #[derive(Deserialize)]
    struct EnumFields<'a> {
        #[serde(borrow)]
        provider: Option<&'a RawValue>,
        #[serde(borrow)]
        grant: Option<&'a RawValue>,
        #[serde(borrow)]
        client_auth: Option<&'a RawValue>,
    }
    let fields: EnumFields = serde_json::from_str(settings.get()).ok()?;
    let fails = |value: Option<&RawValue>, parses: fn(&str) -> bool| value.is_some_and(|v| !parses(v.get()));
    if fails(fields.provider, |v| serde_json::from_str::<ProviderKind>(v).is_ok()) {
        Some("provider")
    } else if fails(fields.grant, |v| serde_json::from_str::<GrantKind>(v).is_ok()) {
        Some("grant")
    } else if fails(fields.client_auth, |v| serde_json::from_str::<ClientAuth>(v).is_ok()) {
        Some("client_auth")
    } else {
        None
    }
}

/// `outlook-mail` → `OUTLOOK_MAIL`.
fn secret_prefix(id: &str) -> String {
    id.replace('-', "_").to_ascii_uppercase()
}

/// Validates connector `id`'s settings, with the secrets `get` gives.
pub(super) fn connector(id: String, settings: &RawValue, timeout: Duration, get: &dyn Fn(&str) -> Option<String>) -> Result<Connector, EdgeError> {
    let at = |field: &str| format!("CONNECTORS.{id}.{field}");
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(invalid(&format!("CONNECTORS.{id}"), "connector ids are 1-32 characters of a-z, 0-9 and -"));
    }
    let s: ConnectorSettings = serde_json::from_str(settings.get()).map_err(|e| match failing_field(settings) {
        Some(field) => invalid(&at(field), e),
        None => invalid(&format!("CONNECTORS.{id}"), e),
    })?;
    let required = |value: Option<String>, field: &str| value.ok_or_else(|| missing(&at(field)));
    let provider = match s.provider {
        ProviderKind::Microsoft => {
            let tenant = Tenant::parse(&required(s.tenant, "tenant")?).map_err(|e| invalid(&at("tenant"), e))?;
            // An app-only token is one tenant's: Entra refuses client credentials at
            // common/organizations/consumers, and a service mailbox too lives in one tenant.
            // Better said at load than at the first mail server's request.
            if s.grant != GrantKind::AuthorizationCode && !tenant.is_specific() {
                return Err(invalid(
                    &at("tenant"),
                    format!("grant = {:?} needs a specific tenant (its ID or a verified domain), not {:?}", s.grant.as_str(), tenant.as_str()),
                ));
            }
            let mut microsoft = Microsoft::new(tenant);
            if let Some(authority) = s.authority {
                microsoft = microsoft.with_authority(Authority::parse(&authority).map_err(|e| invalid(&at("authority"), e))?);
            }
            Provider::Microsoft(microsoft)
        }
        ProviderKind::Zoom => match s.authority {
            Some(base) => Provider::zoom_at(&Endpoint::parse(&base).map_err(|e| invalid(&at("authority"), e))?),
            None => Provider::zoom(),
        },
        ProviderKind::Generic => Provider::Generic(Generic {
            authorize_url: Endpoint::parse(&required(s.authorize_url, "authorize_url")?).map_err(|e| invalid(&at("authorize_url"), e))?,
            token_url: Endpoint::parse(&required(s.token_url, "token_url")?).map_err(|e| invalid(&at("token_url"), e))?,
            issuer: s.issuer,
            iss_parameter_supported: false,
            revocation_url: s.revocation_url.as_deref().map(Endpoint::parse).transpose().map_err(|e| invalid(&at("revocation_url"), e))?,
        }),
    };
    let provider = match s.authorization_response_iss_parameter_supported {
        Some(supported) => provider.with_iss_parameter_supported(supported),
        None => provider,
    };
    // Without an issuer to compare with, every redirect would be refused at the first sign-in.
    if provider.iss_parameter_supported() && provider.issuer().is_none() {
        return Err(invalid(&at("authorization_response_iss_parameter_supported"), "needs the provider's issuer: set issuer"));
    }
    // Zoom's revocation endpoint follows from its base URL and Entra ID has none: set for them,
    // it would be ignored while looking as if it revoked something.
    if s.revocation_url.is_some() && s.provider != ProviderKind::Generic {
        return Err(invalid(&at("revocation_url"), "is only for provider = \"generic\" (zoom's follows from authority; Entra ID has none)"));
    }
    let scopes = Scopes::parse(&s.scope).map_err(|e| invalid(&at("scope"), e))?;
    provider.check_scopes(&scopes).map_err(|e| invalid(&at("scope"), e))?;
    if s.grant == GrantKind::ClientCredentials && s.provider == ProviderKind::Microsoft && !scopes.iter().all(|s| s.is_default()) {
        return Err(invalid(&at("scope"), "client credentials take only {resource}/.default, e.g. https://outlook.office365.com/.default"));
    }
    if s.client_id.trim().is_empty() {
        return Err(missing(&at("client_id")));
    }
    let app = s.grant != GrantKind::AuthorizationCode;
    if app {
        // Not offered to browsers: a redirect URI or a prompt would suggest otherwise.
        let fields = [
            ("redirect_uris", !s.redirect_uris.is_empty()),
            ("prompt", s.prompt.is_some()),
            ("domain_hint", s.domain_hint.is_some()),
            ("backend_access", s.backend_access),
        ];
        for (field, set) in fields {
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
    if s.username.is_some() && s.grant != GrantKind::Password {
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
    // Zoom's token endpoint takes the client's credentials only in an HTTP Basic header: any other
    // method would fail at the first sign-in, so it is refused here, where the setting is named.
    if s.provider == ProviderKind::Zoom && s.client_auth != ClientAuth::ClientSecretBasic {
        return Err(invalid(&at("client_auth"), "zoom takes only client_secret_basic (HTTP Basic at its token endpoint)"));
    }
    let credential = match s.client_auth {
        ClientAuth::ClientSecretBasic | ClientAuth::ClientSecretPost => {
            Credential::Secret { secret: ClientSecret::new(secret("CLIENT_SECRET")?.1), in_body: s.client_auth == ClientAuth::ClientSecretPost }
        }
        ClientAuth::PrivateKeyJwt => {
            let thumbprint = required(s.certificate_thumbprint, "certificate_thumbprint")?;
            let x5t = x5t(&thumbprint).ok_or_else(|| invalid(&at("certificate_thumbprint"), "must be the SHA-1 thumbprint: 40 hex digits"))?;
            let (setting, pem) = secret("PRIVATE_KEY")?;
            let key = pkcs8_der(&pem)
                .ok_or_else(|| invalid(&setting, "must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); convert with `openssl pkcs8 -topk8 -nocrypt`"))?;
            Credential::Certificate(Certificate { setting, key: CertificateKey::new(key), x5t })
        }
    };
    let role = match s.grant {
        GrantKind::AuthorizationCode => {
            Role::Browser(Browser { redirect_uris: s.redirect_uris, prompt, domain_hint: s.domain_hint, backend_access: s.backend_access })
        }
        GrantKind::ClientCredentials | GrantKind::Password => {
            let (setting, keys) = secret("API_KEYS")?;
            let api_keys = ApiKeys::parse(&keys).map_err(|problem| invalid(&setting, problem))?;
            let grant = match s.grant {
                GrantKind::Password => AppGrant::Password(Mailbox {
                    username: required(s.username, "username")?,
                    // Only ever from the Worker's secrets: the endpoint has no password field.
                    password: Password::new(secret("PASSWORD")?.1),
                }),
                _ => AppGrant::ClientCredentials,
            };
            Role::App(App { api_keys, grant })
        }
    };
    let expiry_margin = s.token_expiry_margin.unwrap_or(DEFAULT_EXPIRY_MARGIN_SECONDS);
    if expiry_margin > 86_400 {
        return Err(invalid(&at("token_expiry_margin"), "must be at most 86400 seconds"));
    }
    let client =
        grant::client(&s.client_id, &provider.token_url(), &credential).map_err(|e| invalid(&format!("CONNECTORS.{id}"), format!("token endpoint: {e}")))?;
    Ok(Connector { id, provider, client_id: s.client_id, scopes, credential, client, timeout, expiry_margin, role })
}

/// The hex SHA-1 thumbprint (colons and case ignored) as a JWS `x5t`: base64url of its bytes.
pub(super) fn x5t(hex: &str) -> Option<String> {
    let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 40 {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = digits.chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect::<Option<Vec<u8>>>()?;
    Some(base64url(&bytes))
}

/// The DER inside a `PRIVATE KEY` PEM block (PKCS#8; `RSA PRIVATE KEY` is PKCS#1 and refused).
pub(super) fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    // `.dev.vars` and some secret stores keep newlines as a literal `\n`.
    let pem = pem.replace("\\n", "\n");
    let body = pem.split("-----BEGIN PRIVATE KEY-----").nth(1)?.split("-----END PRIVATE KEY-----").next()?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64_decode(&base64).filter(|der| der.len() > 64)
}
