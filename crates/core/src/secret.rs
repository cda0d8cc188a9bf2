//! Newtypes for values that must never reach a log: their `Debug` prints `Name([redacted])`,
//! they have no `Display` and no `PartialEq` (compare with [`ct_eq`] instead).

use crate::prelude::*;

/// Declares a secret newtype: `Debug` prints `Name([redacted])`, and the value comes out only
/// through `expose()`, whose doc warns. A type gets `new` (any value wraps) unless it says
/// `parsed`, for values that must be checked first; an `impl { … }` arm adds methods, as in
/// `oauth2`'s `new_secret_type!`. Attributes (docs, derives) go on the struct. For the edge's
/// own secrets too, so that every redacted type in the workspace is made here.
///
/// ```
/// mailconnect_core::secret_type! {
///     /// A key.
///     #[derive(Clone)]
///     pub struct Key(Vec<u8>);
///     impl {
///         /// Its length.
///         pub fn len(&self) -> usize { self.0.len() }
///     }
/// }
/// assert_eq!(format!("{:?}", Key::new(vec![1, 2])), "Key([redacted])");
/// ```
#[macro_export]
macro_rules! secret_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($ty:ty); $(impl { $($item:tt)* })?) => {
        $crate::secret_type! {
            $(#[$meta])* $vis struct $name($ty) parsed;
            impl {
                /// Wraps a value.
                $vis fn new(value: impl Into<$ty>) -> Self {
                    Self(value.into())
                }
                $($($item)*)?
            }
        }
    };
    ($(#[$meta:meta])* $vis:vis struct $name:ident($ty:ty) parsed; $(impl { $($item:tt)* })?) => {
        $(#[$meta])*
        $vis struct $name($ty);

        impl $name {
            /// The secret value.
            ///
            /// **Warning:** whatever you do with the result must not log, echo or persist it
            /// unencrypted.
            $vis fn expose(&self) -> &<$ty as ::core::ops::Deref>::Target {
                &self.0
            }
            $($($item)*)?
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

/// A secret newtype over `String` that crosses the contract as a plain JSON string.
macro_rules! string_secret {
    ($(#[$meta:meta])* $name:ident $(, $derive:ident)*) => {
        crate::secret_type! {
            $(#[$meta])*
            $(#[derive($derive)])*
            #[derive(serde::Serialize, serde::Deserialize)]
            #[serde(transparent)]
            pub struct $name(String);
        }
    };
}

string_secret!(
    /// A confidential client's secret, registered in Entra ID under "Certificates & secrets".
    ClientSecret, Clone
);
string_secret!(
    /// An authorization code from the redirect; single use, lives minutes.
    AuthCode
);
string_secret!(
    /// A bearer access token.
    AccessToken, Clone
);
string_secret!(
    /// A refresh token. It stays at the edge and never reaches a browser.
    RefreshToken, Clone
);
string_secret!(
    /// The `state` parameter binding a redirect to the request that caused it.
    State, Clone
);
string_secret!(
    /// The opaque handle in the edge's session cookie.
    SessionId
);
string_secret!(
    /// A password of a service mailbox (resource owner password grant).
    Password
);
string_secret!(
    /// The webmail's signed ticket naming its signed-in user (a compact JWS); a bearer credential for minutes.
    Ticket
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
        assert_eq!(format!("{:?}", Ticket::new("a.b.c")), "Ticket([redacted])");
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
