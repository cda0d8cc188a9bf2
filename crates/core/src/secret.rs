//! Newtypes for values that must never reach a log: their `Debug` prints `Name([redacted])`,
//! they have no `Display` and no `PartialEq` (compare with [`ct_eq`] instead).

use crate::prelude::*;

/// Declares a secret newtype over `String`.
macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$meta])*
        $(#[derive($derive)])*
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value.
            ///
            /// **Warning:** whatever you do with the result must not log, echo or persist it
            /// unencrypted.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// A confidential client's secret, registered in Entra ID under "Certificates & secrets".
    ClientSecret, Clone
);
secret_type!(
    /// An authorization code from the redirect; single use, lives minutes.
    AuthCode
);
secret_type!(
    /// A bearer access token.
    AccessToken, Clone
);
secret_type!(
    /// A refresh token. It stays at the edge and never reaches a browser.
    RefreshToken, Clone
);
secret_type!(
    /// The `state` parameter binding a redirect to the request that caused it.
    State, Clone
);
secret_type!(
    /// The opaque handle in the edge's session cookie.
    SessionId
);
secret_type!(
    /// A password of a service mailbox (resource owner password grant).
    Password
);

/// Compares two strings in time that depends only on their lengths, never on where they differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl State {
    /// Makes a state from 16 bytes of the caller's CSPRNG.
    pub fn from_random(bytes: &[u8; 16]) -> Self {
        Self(crate::encoding::base64url(bytes))
    }

    /// Whether `other` equals this state, compared in constant time.
    pub fn matches(&self, other: &str) -> bool {
        ct_eq(&self.0, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted_for_every_secret_type() {
        assert_eq!(format!("{:?}", ClientSecret::new("s3cr3t")), "ClientSecret([redacted])");
        assert_eq!(format!("{:?}", AuthCode::new("code")), "AuthCode([redacted])");
        assert_eq!(format!("{:?}", AccessToken::new("eyJ")), "AccessToken([redacted])");
        assert_eq!(format!("{:?}", RefreshToken::new("rt")), "RefreshToken([redacted])");
        assert_eq!(format!("{:?}", State::new("st")), "State([redacted])");
        assert_eq!(format!("{:?}", SessionId::new("sid")), "SessionId([redacted])");
        assert_eq!(format!("{:?}", Password::new("pw")), "Password([redacted])");
    }

    #[test]
    fn ct_eq_compares_whole_strings() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "ab"));
        assert!(ct_eq("", ""));
    }

    #[test]
    fn state_from_random_is_base64url_and_matches_itself_only() {
        let s = State::from_random(&[0xfb; 16]);
        assert_eq!(s.expose().len(), 22);
        assert!(s.matches(s.expose()));
        assert!(!s.matches("other"));
    }
}
