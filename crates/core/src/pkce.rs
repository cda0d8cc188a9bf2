//! PKCE (RFC 7636), S256 only: `plain` gives no protection once the request is seen.

use crate::encoding::base64url;
use crate::error::CoreError;
use crate::prelude::*;
use sha2::{Digest, Sha256};

crate::secret_type! {
    /// A code verifier: 43–128 characters of `[A-Za-z0-9-._~]`. Not `Clone`: it is used once.
    /// Made only by [`PkceVerifier::from_random`] and [`PkceVerifier::parse`], so it is always valid.
    pub struct PkceVerifier(String) parsed;
    impl {
        /// A verifier from 32 bytes of the caller's CSPRNG (43 characters, 256 bits).
        pub fn from_random(bytes: &[u8; 32]) -> Self {
            PkceVerifier(base64url(bytes))
        }

        /// Validates a verifier received from elsewhere.
        pub fn parse(s: &str) -> Result<Self, CoreError> {
            let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            if (43..=128).contains(&s.len()) && s.bytes().all(unreserved) {
                Ok(PkceVerifier(s.to_owned()))
            } else {
                Err(CoreError::InvalidVerifier)
            }
        }

        /// The S256 challenge: base64url(SHA-256(verifier)).
        pub fn challenge(&self) -> String {
            base64url(&Sha256::digest(self.0.as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let bytes =
            [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121];
        let v = PkceVerifier::from_random(&bytes);
        assert_eq!(v.expose(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(v.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn parse_enforces_length_and_charset() {
        assert!(PkceVerifier::parse(&"a".repeat(42)).is_err());
        assert!(PkceVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(PkceVerifier::parse(&"~".repeat(128)).is_ok());
        assert!(PkceVerifier::parse(&"a".repeat(129)).is_err());
        assert!(PkceVerifier::parse(&format!("{}+", "a".repeat(43))).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", PkceVerifier::from_random(&[0; 32])), "PkceVerifier([redacted])");
    }

    proptest! {
        #[test]
        fn generated_verifiers_always_parse(bytes in any::<[u8; 32]>()) {
            let v = PkceVerifier::from_random(&bytes);
            prop_assert!(PkceVerifier::parse(v.expose()).is_ok());
            prop_assert_eq!(v.challenge().len(), 43);
        }
    }
}
