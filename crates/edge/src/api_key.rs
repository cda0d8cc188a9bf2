//! API keys of app-token connectors: parsing `{ID}_API_KEYS` and checking a presented key.
//!
//! # Security
//! A presented key is compared with every configured key, always all of them, through an HMAC
//! under a random key drawn once per isolate: the comparison sees only 32-byte tags, so neither
//! a key's length nor the position of its first wrong byte shows in the time taken, and an
//! unknown key costs exactly what a wrong one does. Several keys may be valid at once, so a key
//! can be rotated without downtime: add the new one, move the callers, remove the old one.

use std::cell::OnceCell;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crypto;
use crate::error::EdgeError;

/// Long enough that guessing is hopeless even without the rate limit: 32 characters of
/// `openssl rand -base64 32` output carry about 190 bits.
const MIN_KEY_LEN: usize = 32;

/// The API keys of one connector. `Debug` shows only how many there are.
pub(crate) struct ApiKeys(Vec<String>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys([redacted; {}])", self.0.len())
    }
}

thread_local! {
    // Per isolate, never stored: a tag computed with it is worthless anywhere else.
    static MAC_KEY: OnceCell<[u8; 32]> = const { OnceCell::new() };
}

impl ApiKeys {
    /// Keys separated by spaces, commas or newlines; each at least [`MIN_KEY_LEN`] printable
    /// ASCII characters. The error says what is wrong without quoting a key.
    pub(crate) fn parse(text: &str) -> Result<ApiKeys, String> {
        let keys: Vec<String> = crate::config::list(text).map(str::to_owned).collect();
        if keys.is_empty() {
            return Err("must list at least one API key".into());
        }
        for (i, key) in keys.iter().enumerate() {
            if key.len() < MIN_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "key {} of {} must be at least {MIN_KEY_LEN} printable ASCII characters (e.g. `openssl rand -base64 32`)",
                    i + 1,
                    keys.len()
                ));
            }
        }
        Ok(ApiKeys(keys))
    }

    /// Whether `presented` is one of the keys, in time independent of which one it matches
    /// or how close it comes.
    pub(crate) fn verify(&self, presented: &str) -> Result<bool, EdgeError> {
        let mac_key = match MAC_KEY.with(|k| k.get().copied()) {
            Some(key) => key,
            None => {
                let key = crypto::random::<32>()?;
                MAC_KEY.with(|k| *k.get_or_init(|| key))
            }
        };
        let mac = |value: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&mac_key).expect("unreachable: HMAC takes keys of any length");
            mac.update(value.as_bytes());
            mac
        };
        let presented = mac(presented).finalize().into_bytes();
        // `verify_slice` compares in constant time; `|` (not `||`) and `fold` visit every key.
        Ok(self.0.iter().fold(false, |found, key| found | mac(key).verify_slice(&presented).is_ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "k7Qm1c0Jt1W9S3eVb2rP8xYzL4nH6gDf";
    const B: &str = "Zb3Xy9Wv8Ut7Sr6Qp5On4Ml3Kj2Ih1Gf0Ed+/=";

    #[test]
    fn keys_are_separated_by_spaces_commas_or_newlines_and_any_of_them_verifies() {
        let keys = ApiKeys::parse(&format!(" {A},{B}\n")).unwrap();
        assert!(keys.verify(A).unwrap() && keys.verify(B).unwrap());
        assert!(!keys.verify(&A[1..]).unwrap() && !keys.verify(&format!("{A}x")).unwrap() && !keys.verify("").unwrap());
        assert!(ApiKeys::parse(&format!("{A} {B}")).unwrap().verify(B).unwrap());
    }

    #[test]
    fn short_empty_or_non_ascii_keys_are_refused_without_quoting_them() {
        for text in ["", " , ", "short-key", &format!("{A} tiny"), &format!("{A}\u{e9}")] {
            let problem = ApiKeys::parse(text).unwrap_err();
            assert!(!problem.contains(A) && !problem.contains("tiny"), "{problem}");
        }
        assert_eq!(ApiKeys::parse(&format!("{A},tiny")).unwrap_err().split(" must").next(), Some("key 2 of 2"));
    }

    #[test]
    fn debug_output_counts_keys_and_hides_them() {
        assert_eq!(format!("{:?}", ApiKeys::parse(&format!("{A} {B}")).unwrap()), "ApiKeys([redacted; 2])");
    }
}
