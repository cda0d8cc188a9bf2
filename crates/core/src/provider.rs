//! Providers: where the authorize, token and (RFC 7009) revocation endpoints are. The Microsoft
//! identity platform derives them from an [`Authority`] and a [`Tenant`]; any other provider names them.

use crate::encoding::form_serialize;
use crate::error::CoreError;
use crate::prelude::*;
use crate::scope::Scopes;
use crate::tenant::{Authority, Tenant};

/// An absolute `https://` URL, or `http://` on a loopback host (tests and the local demo).
/// Without query or fragment, so parameters can be appended safely.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    /// Validates a URL.
    pub fn parse(url: &str) -> Result<Self, CoreError> {
        let bad = || CoreError::InvalidUrl(url.to_owned());
        // `:` then `//`, not `split_once("://")`: a substring search links std's Two-Way searcher
        // into the browser module. The same split for every scheme accepted below.
        let (scheme, rest) = url.split_once(':').and_then(|(scheme, rest)| Some((scheme, rest.strip_prefix("//")?))).ok_or_else(bad)?;
        let host_port = rest.split('/').next().unwrap_or_default();
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
        let ok = (scheme == "https" || (scheme == "http" && loopback))
            && !host.is_empty()
            && url.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'@' | b'\\'));
        if ok {
            Ok(Endpoint(url.to_owned()))
        } else {
            Err(bad())
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scheme, host and port.
    pub fn origin(&self) -> &str {
        let after_scheme = self.0.find("://").map_or(0, |i| i + 3);
        let end = self.0[after_scheme..].find('/').map_or(self.0.len(), |i| after_scheme + i);
        &self.0[..end]
    }
}

/// Where an issuer identifier has a tenant's directory ID, in the issuer Entra publishes for
/// tenant-independent authorities (`https://login.microsoftonline.com/{tenantid}/v2.0`): a
/// redirect's `iss` matches it with any GUID there.
pub const TENANT_ID_PLACEHOLDER: &str = "{tenantid}";

/// The Microsoft identity platform (v2 endpoints) for one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Microsoft {
    authority: Authority,
    tenant: Tenant,
    sends_iss: bool,
}

impl Microsoft {
    /// The provider for `tenant` in the global cloud. Entra's published metadata
    /// (`{authority}/{tenant}/v2.0/.well-known/openid-configuration`) does not list
    /// `authorization_response_iss_parameter_supported`, so a redirect without `iss` is accepted
    /// unless [`Provider::with_iss_parameter_supported`] says otherwise.
    pub fn new(tenant: Tenant) -> Self {
        Microsoft { authority: Authority::public(), tenant, sends_iss: false }
    }

    /// Uses another cloud or a test server.
    pub fn with_authority(mut self, authority: Authority) -> Self {
        self.authority = authority;
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.authority.as_str(), self.tenant.as_str(), path)
    }

    /// `{authority}/{tenant}/oauth2/v2.0/authorize`
    pub fn authorize_url(&self) -> String {
        self.url("oauth2/v2.0/authorize")
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`
    pub fn token_url(&self) -> String {
        self.url("oauth2/v2.0/token")
    }

    /// The issuer a redirect's `iss` names: the tenant's own for a tenant ID and for `consumers`
    /// (its fixed directory ID, [`Tenant::CONSUMERS_ID`]); for `common` and `organizations` (any
    /// tenant) and for a domain (whose directory ID the settings do not name) the
    /// tenant-independent form with [`TENANT_ID_PLACEHOLDER`], as Entra's metadata writes it.
    pub fn issuer(&self) -> String {
        let tenant = match &self.tenant {
            Tenant::Id(id) => id.as_str(),
            Tenant::Consumers => Tenant::CONSUMERS_ID,
            Tenant::Common | Tenant::Organizations | Tenant::Domain(_) => TENANT_ID_PLACEHOLDER,
        };
        format!("{}/{tenant}/v2.0", self.authority.as_str())
    }

    /// The URL an admin opens to grant tenant-wide consent to `scopes` for `client_id`.
    /// Personal accounts have no admins, so `consumers` has no such URL; `common` uses
    /// `organizations` (admin consent is for work and school tenants only, and Entra refuses
    /// `common` here for apps that also accept personal accounts).
    pub fn admin_consent_url(&self, client_id: &str, scopes: &Scopes, redirect_uri: &str, state: &str) -> Option<String> {
        let tenant = match self.tenant {
            Tenant::Consumers => return None,
            Tenant::Common => Tenant::Organizations.as_str(),
            ref other => other.as_str(),
        };
        let scope = scopes.to_string();
        let query = form_serialize([("client_id", client_id), ("scope", scope.as_str()), ("redirect_uri", redirect_uri), ("state", state)]);
        Some(format!("{}/{tenant}/v2.0/adminconsent?{query}", self.authority.as_str()))
    }

    /// Refuses scope sets that Entra would refuse: `.default` mixed with other scopes of its
    /// resource (AADSTS70011), or scopes of two resources in one token request (AADSTS28000).
    pub fn check_scopes(&self, scopes: &Scopes) -> Result<(), CoreError> {
        let mut resource: Option<&str> = None;
        for scope in scopes.iter() {
            let Some(r) = scope.resource() else { continue };
            match resource {
                None => resource = Some(r),
                Some(first) if first != r => return Err(CoreError::MultipleResources(first.to_owned(), r.to_owned())),
                Some(_) => {}
            }
        }
        let resource_scopes = scopes.iter().filter(|s| s.resource().is_some()).count();
        match scopes.iter().find(|s| s.is_default()) {
            Some(default) if resource_scopes > 1 => Err(CoreError::DefaultScopeMixed(default.resource().unwrap_or_default().to_owned())),
            _ => Ok(()),
        }
    }
}

/// Any OAuth 2.0 provider, by its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generic {
    /// The authorization endpoint.
    pub authorize_url: Endpoint,
    /// The token endpoint.
    pub token_url: Endpoint,
    /// The issuer identifier, when the provider has one (RFC 9207 `iss` checks).
    pub issuer: Option<String>,
    /// Whether the provider puts `iss` in every redirect (its metadata's
    /// `authorization_response_iss_parameter_supported`): then a redirect without it is refused.
    /// Needs `issuer`.
    pub iss_parameter_supported: bool,
    /// The token revocation endpoint (RFC 7009), when the provider has one.
    pub revocation_url: Option<Endpoint>,
}

/// Where a connector signs users in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// The Microsoft identity platform.
    Microsoft(Microsoft),
    /// Explicit endpoints.
    Generic(Generic),
}

impl Provider {
    /// Zoom (authorize/token/revoke at zoom.us; HTTP Basic client authentication at each; strict
    /// refresh-token rotation: only the newest refresh token works).
    pub fn zoom() -> Self {
        Provider::zoom_at(&Endpoint("https://zoom.us".into()))
    }

    /// Zoom's endpoints under another base URL (`{base}/oauth/authorize`, `{base}/oauth/token`,
    /// `{base}/oauth/revoke`): a test server or the local demo, as [`Microsoft::with_authority`]
    /// is for Entra.
    pub fn zoom_at(base: &Endpoint) -> Self {
        let base = base.as_str().trim_end_matches('/');
        // A valid endpoint with a plain path appended is still valid: no query, fragment or userinfo.
        Provider::Generic(Generic {
            authorize_url: Endpoint(format!("{base}/oauth/authorize")),
            token_url: Endpoint(format!("{base}/oauth/token")),
            // Zoom publishes no authorization server metadata: nothing says it sends `iss`.
            issuer: None,
            iss_parameter_supported: false,
            revocation_url: Some(Endpoint(format!("{base}/oauth/revoke"))),
        })
    }

    /// Says whether the provider puts `iss` in every redirect (RFC 9207), overriding the preset:
    /// for a provider whose metadata advertises `authorization_response_iss_parameter_supported`.
    pub fn with_iss_parameter_supported(mut self, supported: bool) -> Self {
        match &mut self {
            Provider::Microsoft(m) => m.sends_iss = supported,
            Provider::Generic(g) => g.iss_parameter_supported = supported,
        }
        self
    }

    /// The authorization endpoint.
    pub fn authorize_url(&self) -> String {
        match self {
            Provider::Microsoft(m) => m.authorize_url(),
            Provider::Generic(g) => g.authorize_url.as_str().to_owned(),
        }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        match self {
            Provider::Microsoft(m) => m.token_url(),
            Provider::Generic(g) => g.token_url.as_str().to_owned(),
        }
    }

    /// The token revocation endpoint (RFC 7009), if the provider has one.
    ///
    /// The Microsoft identity platform has none: Entra ID offers no RFC 7009 endpoint, so a
    /// refresh token it issued ends only with its lifetime or when the user's sessions are
    /// revoked (Microsoft Graph `revokeSignInSessions`, or an admin in the Entra portal).
    pub fn revocation_url(&self) -> Option<String> {
        match self {
            Provider::Microsoft(_) => None,
            Provider::Generic(g) => g.revocation_url.as_ref().map(|e| e.as_str().to_owned()),
        }
    }

    /// The expected `iss`, when known; it may hold [`TENANT_ID_PLACEHOLDER`].
    pub fn issuer(&self) -> Option<String> {
        match self {
            Provider::Microsoft(m) => Some(m.issuer()),
            Provider::Generic(g) => g.issuer.clone(),
        }
    }

    /// Whether every redirect carries `iss` (RFC 9207 `authorization_response_iss_parameter_supported`).
    pub fn iss_parameter_supported(&self) -> bool {
        match self {
            Provider::Microsoft(m) => m.sends_iss,
            Provider::Generic(g) => g.iss_parameter_supported,
        }
    }

    /// Checks scopes against the provider's own rules.
    pub fn check_scopes(&self, scopes: &Scopes) -> Result<(), CoreError> {
        match self {
            Provider::Microsoft(m) => m.check_scopes(scopes),
            Provider::Generic(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::presets;

    fn ms(tenant: &str) -> Microsoft {
        Microsoft::new(Tenant::parse(tenant).unwrap())
    }

    #[test]
    fn derives_v2_urls_for_each_tenant_type() {
        for (tenant, seg) in [
            ("common", "common"),
            ("organizations", "organizations"),
            ("consumers", "consumers"),
            ("72f988bf-86f1-41af-91ab-2d7cd011db47", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
            ("Contoso.com", "contoso.com"),
        ] {
            let p = ms(tenant);
            assert_eq!(p.authorize_url(), format!("https://login.microsoftonline.com/{seg}/oauth2/v2.0/authorize"));
            assert_eq!(p.token_url(), format!("https://login.microsoftonline.com/{seg}/oauth2/v2.0/token"));
        }
    }

    #[test]
    fn sovereign_and_loopback_authorities_change_only_the_host() {
        let gov = ms("contoso.com").with_authority(Authority::parse(Authority::US_GOVERNMENT).unwrap());
        assert_eq!(gov.token_url(), "https://login.microsoftonline.us/contoso.com/oauth2/v2.0/token");
        let local = ms("common").with_authority(Authority::parse("http://127.0.0.1:9010/").unwrap());
        assert_eq!(local.authorize_url(), "http://127.0.0.1:9010/common/oauth2/v2.0/authorize");
    }

    #[test]
    fn issuer_is_the_tenants_own_or_the_tenant_independent_form() {
        assert_eq!(ms("72F988BF-86f1-41af-91ab-2d7cd011db47").issuer(), "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0");
        assert_eq!(ms("consumers").issuer(), "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0");
        for tenant in ["common", "organizations", "contoso.com"] {
            assert_eq!(ms(tenant).issuer(), "https://login.microsoftonline.com/{tenantid}/v2.0", "{tenant}");
        }
        let local = ms("organizations").with_authority(Authority::parse("http://127.0.0.1:9010").unwrap());
        assert_eq!(local.issuer(), "http://127.0.0.1:9010/{tenantid}/v2.0", "the configured authority's host");
    }

    #[test]
    fn only_a_provider_said_to_send_iss_requires_it() {
        assert!(!Provider::Microsoft(ms("common")).iss_parameter_supported(), "Entra's metadata does not advertise it");
        assert!(!Provider::zoom().iss_parameter_supported());
        assert!(Provider::Microsoft(ms("common")).with_iss_parameter_supported(true).iss_parameter_supported());
        assert!(Provider::zoom().with_iss_parameter_supported(true).iss_parameter_supported());
    }

    #[test]
    fn admin_consent_url_is_exact_and_absent_for_consumers() {
        let scopes = Scopes::parse("https://graph.microsoft.com/.default").unwrap();
        assert_eq!(
            ms("organizations").admin_consent_url("cid", &scopes, "https://mail.example.com/cb", "st").unwrap(),
            "https://login.microsoftonline.com/organizations/v2.0/adminconsent?client_id=cid&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&redirect_uri=https%3A%2F%2Fmail.example.com%2Fcb&state=st"
        );
        assert_eq!(ms("consumers").admin_consent_url("cid", &scopes, "https://x/cb", "st"), None);
        assert_eq!(
            ms("common").admin_consent_url("cid", &scopes, "https://x/cb", "st"),
            ms("organizations").admin_consent_url("cid", &scopes, "https://x/cb", "st"),
            "admin consent is for organizations: common asks there"
        );
        assert!(ms("contoso.com")
            .admin_consent_url("cid", &scopes, "https://x/cb", "st")
            .unwrap()
            .starts_with("https://login.microsoftonline.com/contoso.com/v2.0/adminconsent?"));
    }

    #[test]
    fn scope_presets_pass_entra_rules() {
        for preset in [presets::TEAMS_CALENDAR, presets::MAIL_DELEGATED, presets::EWS_DELEGATED, presets::MAIL_APP_ONLY] {
            ms("common").check_scopes(&Scopes::parse(preset).unwrap()).unwrap();
        }
    }

    #[test]
    fn default_scope_mixed_with_its_resource_is_refused() {
        let s = Scopes::parse("https://outlook.office365.com/.default https://outlook.office365.com/IMAP.AccessAsApp").unwrap();
        assert_eq!(ms("contoso.com").check_scopes(&s), Err(CoreError::DefaultScopeMixed("https://outlook.office365.com".into())));
        let s = Scopes::parse("https://graph.microsoft.com/.default User.Read").unwrap();
        assert!(matches!(ms("contoso.com").check_scopes(&s), Err(CoreError::DefaultScopeMixed(_))));
        let s = Scopes::parse("openid offline_access https://graph.microsoft.com/.default").unwrap();
        assert_eq!(ms("contoso.com").check_scopes(&s), Ok(()));
    }

    #[test]
    fn two_resources_in_one_request_are_refused() {
        let s = Scopes::parse("User.Read https://outlook.office.com/IMAP.AccessAsUser.All").unwrap();
        assert!(matches!(ms("common").check_scopes(&s), Err(CoreError::MultipleResources(..))));
    }

    #[test]
    fn zoom_endpoints_follow_their_base_url() {
        assert_eq!(Provider::zoom().authorize_url(), "https://zoom.us/oauth/authorize");
        assert_eq!(Provider::zoom().token_url(), "https://zoom.us/oauth/token");
        assert_eq!(Provider::zoom().revocation_url().as_deref(), Some("https://zoom.us/oauth/revoke"));
        assert_eq!(Provider::zoom(), Provider::zoom_at(&Endpoint::parse("https://zoom.us/").unwrap()));
        let local = Provider::zoom_at(&Endpoint::parse("http://127.0.0.1:9010").unwrap());
        assert_eq!(
            (local.authorize_url().as_str(), local.token_url().as_str()),
            ("http://127.0.0.1:9010/oauth/authorize", "http://127.0.0.1:9010/oauth/token")
        );
        assert_eq!(local.issuer(), None);
        assert_eq!(local.revocation_url().as_deref(), Some("http://127.0.0.1:9010/oauth/revoke"));
    }

    #[test]
    fn revocation_url_is_none_for_microsoft_and_as_configured_for_generic() {
        assert_eq!(Provider::Microsoft(ms("common")).revocation_url(), None);
        let endpoint = |url: &str| Endpoint::parse(url).unwrap();
        let generic = |revocation_url| {
            Provider::Generic(Generic {
                authorize_url: endpoint("https://idp.example/authorize"),
                token_url: endpoint("https://idp.example/token"),
                issuer: None,
                iss_parameter_supported: false,
                revocation_url,
            })
        };
        assert_eq!(generic(None).revocation_url(), None);
        assert_eq!(generic(Some(endpoint("https://idp.example/revoke"))).revocation_url().as_deref(), Some("https://idp.example/revoke"));
    }

    #[test]
    fn endpoint_refuses_plain_http_off_loopback_and_queries() {
        assert!(Endpoint::parse("https://zoom.us/oauth/token").is_ok());
        assert!(Endpoint::parse("http://[::1]:8080/t").is_ok());
        for bad in ["http://example.com/t", "https://a/t?x=1", "https://a/t#f", "ftp://a", "https://user@a/t", "https:///t", "https://a b/"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Endpoint::parse("http://127.0.0.1:9/a/b").unwrap().origin(), "http://127.0.0.1:9");
    }
}
