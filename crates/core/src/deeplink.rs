//! Deep links: where to send the user back after a full-page sign-in.
//!
//! # Security
//! A return target comes from a URL anyone can craft, so only same-origin paths are accepted:
//! never a scheme, a host, or a `//`/`\` prefix that browsers read as one (no open redirect).

use crate::error::CoreError;

/// A path on this site (with query and fragment) to return to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    /// Accepts `/path?query#fragment` and nothing that could leave the origin.
    pub fn parse(target: &str) -> Result<Self, CoreError> {
        let bytes = target.as_bytes();
        let ok = bytes.first() == Some(&b'/')
            && !matches!(bytes.get(1), Some(b'/' | b'\\'))
            && !target.contains('\\')
            && !target.chars().any(|c| c.is_control() || c.is_whitespace())
            && target.len() <= 2048;
        if ok {
            Ok(ReturnTo(target.to_owned()))
        } else {
            Err(CoreError::InvalidReturnTo)
        }
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_same_origin_paths() {
        for ok in ["/", "/mail/inbox?msg=42#top", "/a/b/../c", "/%2F%2Fevil.com"] {
            assert_eq!(ReturnTo::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_anything_that_could_leave_the_origin() {
        for bad in ["", "https://evil.com", "//evil.com", "/\\evil.com", "\\\\evil.com", "javascript:alert(1)", "/\t/evil.com", "mail/inbox", "/a\nb"] {
            assert!(ReturnTo::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_targets_never_name_another_origin(s in "\\PC{0,30}") {
            if let Ok(r) = ReturnTo::parse(&s) {
                prop_assert!(r.as_str().starts_with('/') && !r.as_str().starts_with("//") && !r.as_str().contains('\\'));
            }
        }
    }
}
