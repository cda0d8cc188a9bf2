//! Scopes (RFC 6749 §3.3) and the presets the field uses.

use crate::error::CoreError;
use crate::prelude::*;
use core::fmt;

/// One scope token: printable ASCII without space, `"` or `\`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(String);

const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const GRAPH: &str = "https://graph.microsoft.com";

impl Scope {
    /// Validates one scope token.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let valid = !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if valid {
            Ok(Scope(s.to_owned()))
        } else {
            Err(CoreError::InvalidScope(s.to_owned()))
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Entra resource this scope belongs to: the URL before the last `/`, Microsoft Graph for
    /// a bare permission name, and none for the OpenID Connect scopes.
    pub fn resource(&self) -> Option<&str> {
        if OIDC_SCOPES.contains(&self.0.as_str()) {
            None
        } else if let Some((resource, _)) = self.0.rsplit_once('/').filter(|_| self.0.contains("://")) {
            Some(resource)
        } else {
            Some(GRAPH)
        }
    }

    /// Whether this is a resource's `.default` scope.
    pub fn is_default(&self) -> bool {
        self.0.ends_with("/.default")
    }
}

/// An ordered set of scopes, as sent space-separated.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses a space-separated list; duplicates are dropped, order is kept.
    pub fn parse(list: &str) -> Result<Self, CoreError> {
        let mut scopes = Scopes::default();
        for token in list.split_ascii_whitespace() {
            scopes.push(Scope::parse(token)?);
        }
        Ok(scopes)
    }

    /// Adds a scope unless present.
    pub fn push(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Whether `name` is among them.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.0 == name)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&s.0)?;
        }
        Ok(())
    }
}

/// Scope lists for what webmail connectors do with Microsoft 365.
pub mod presets {
    /// Teams meetings in the webmail calendar (Microsoft Graph, delegated).
    pub const TEAMS_CALENDAR: &str = "User.Read Calendars.ReadBasic Calendars.Read Calendars.ReadWrite offline_access";
    /// IMAP, POP and SMTP AUTH with XOAUTH2 for the signed-in user.
    pub const MAIL_DELEGATED: &str =
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access";
    /// Exchange Web Services for the signed-in user.
    pub const EWS_DELEGATED: &str = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access";
    /// App-only mail (SMTP.SendAsApp, IMAP.AccessAsApp, POP.AccessAsApp) with client credentials.
    pub const MAIL_APP_ONLY: &str = "https://outlook.office365.com/.default";
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resources_follow_entra_naming() {
        let r = |s: &str| Scope::parse(s).unwrap().resource().map(str::to_owned);
        assert_eq!(r("User.Read").as_deref(), Some(GRAPH));
        assert_eq!(r("https://outlook.office.com/IMAP.AccessAsUser.All").as_deref(), Some("https://outlook.office.com"));
        assert_eq!(r("offline_access"), None);
        assert!(Scope::parse("https://outlook.office365.com/.default").unwrap().is_default());
    }

    #[test]
    fn invalid_scope_characters_are_refused() {
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parse_drops_duplicates_and_keeps_order() {
        let s = Scopes::parse("  b a  b ").unwrap();
        assert_eq!(s.to_string(), "b a");
        assert!(s.contains("a"));
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(tokens in proptest::collection::vec("[!#-\\[\\]-~]{1,12}", 0..6)) {
            let s = Scopes::parse(&tokens.join(" ")).unwrap();
            prop_assert_eq!(Scopes::parse(&s.to_string()).unwrap(), s);
        }
    }
}
