//! Entra ID tenants and authorities: the `{authority}/{tenant}` half of every Microsoft URL.

use crate::error::CoreError;
use crate::prelude::*;
use crate::provider::Endpoint;

/// Who may sign in: the tenant segment of the Microsoft identity platform URLs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// Work, school and personal accounts (multi-tenant app + personal accounts).
    Common,
    /// Work and school accounts of any tenant.
    Organizations,
    /// Personal Microsoft accounts only.
    Consumers,
    /// One tenant, by its directory ID (a GUID, kept lowercase).
    Id(String),
    /// One tenant, by a verified domain (kept lowercase).
    Domain(String),
}

impl Tenant {
    /// The directory ID of every personal Microsoft account, the tenant `consumers` stands for
    /// (the `tid` and issuer of their tokens).
    pub const CONSUMERS_ID: &'static str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    /// Parses a tenant; anything but an alias, a GUID or a domain name is refused, so the
    /// value can be put into a URL path as it is.
    pub fn parse(input: &str) -> Result<Self, CoreError> {
        let lower = input.trim().to_ascii_lowercase();
        let tenant = match lower.as_str() {
            "common" => Tenant::Common,
            "organizations" => Tenant::Organizations,
            "consumers" => Tenant::Consumers,
            s if is_guid(s) => Tenant::Id(lower),
            s if is_domain(s) => Tenant::Domain(lower),
            _ => return Err(CoreError::InvalidTenant(input.to_owned())),
        };
        Ok(tenant)
    }

    /// The path segment.
    pub fn as_str(&self) -> &str {
        match self {
            Tenant::Common => "common",
            Tenant::Organizations => "organizations",
            Tenant::Consumers => "consumers",
            Tenant::Id(s) | Tenant::Domain(s) => s,
        }
    }

    /// Whether this names one tenant, as the client credentials grant requires.
    pub fn is_specific(&self) -> bool {
        matches!(self, Tenant::Id(_) | Tenant::Domain(_))
    }
}

/// 8-4-4-4-12 hex digits. By position, without collecting the groups: the browser module links
/// it (issuer checks), where every generic helper costs bytes.
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36 && s.bytes().enumerate().all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// The sign-in host of a cloud, e.g. `https://login.microsoftonline.com`. Configurable so that
/// sovereign clouds and a loopback test server work the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority(Endpoint);

impl Authority {
    /// The global Azure cloud.
    pub const PUBLIC: &'static str = "https://login.microsoftonline.com";
    /// Azure US Government.
    pub const US_GOVERNMENT: &'static str = "https://login.microsoftonline.us";
    /// Azure operated by 21Vianet (China).
    pub const CHINA: &'static str = "https://login.chinacloudapi.cn";

    /// Parses an authority base URL (a trailing `/` is dropped).
    pub fn parse(url: &str) -> Result<Self, CoreError> {
        Endpoint::parse(url.trim_end_matches('/')).map(Authority)
    }

    /// The global cloud.
    pub fn public() -> Self {
        Authority::parse(Self::PUBLIC).expect("unreachable: constant is valid")
    }

    /// The base URL, without trailing `/`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Default for Authority {
    fn default() -> Self {
        Authority::public()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_aliases_guids_and_domains() {
        assert_eq!(Tenant::parse("common").unwrap(), Tenant::Common);
        assert_eq!(Tenant::parse("Organizations").unwrap(), Tenant::Organizations);
        assert_eq!(Tenant::parse("consumers").unwrap(), Tenant::Consumers);
        assert_eq!(Tenant::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap(), Tenant::Id("72f988bf-86f1-41af-91ab-2d7cd011db47".into()));
        assert_eq!(Tenant::parse("contoso.onmicrosoft.com").unwrap(), Tenant::Domain("contoso.onmicrosoft.com".into()));
    }

    #[test]
    fn refuses_free_text_that_would_change_the_url() {
        for bad in ["", "contoso", "a/b.com", "x.com/../common", "x.com?y=1", "-a.com", "a..com", "72f988bf-86f1-41af-91ab", "1.2.3.4", "a b.com", "%2e.com"] {
            assert!(Tenant::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_one_tenant_is_specific() {
        assert!(!Tenant::Common.is_specific());
        assert!(!Tenant::Organizations.is_specific());
        assert!(Tenant::parse("contoso.com").unwrap().is_specific());
    }

    #[test]
    fn authority_accepts_clouds_and_loopback_only() {
        assert_eq!(Authority::parse("https://login.microsoftonline.us/").unwrap().as_str(), "https://login.microsoftonline.us");
        assert!(Authority::parse("http://127.0.0.1:9000").is_ok());
        assert!(Authority::parse("http://localhost:9000/mock").is_ok());
        assert!(Authority::parse("http://login.microsoftonline.com").is_err());
        assert!(Authority::parse("https://login.microsoftonline.com?x").is_err());
    }

    proptest! {
        #[test]
        fn parsed_tenants_reparse_to_themselves(s in "[a-zA-Z0-9.-]{1,40}") {
            if let Ok(t) = Tenant::parse(&s) {
                prop_assert_eq!(Tenant::parse(t.as_str()).unwrap(), t.clone());
                prop_assert!(t.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
            }
        }
    }
}
