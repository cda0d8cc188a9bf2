//! The XOAUTH2 SASL mechanism for IMAP, POP and SMTP AUTH with an OAuth access token.

use crate::encoding::base64;
use crate::error::CoreError;
use crate::prelude::*;

fn raw(user: &str, token: &str) -> Result<String, CoreError> {
    if user.is_empty() || token.is_empty() || user.chars().chain(token.chars()).any(char::is_control) {
        return Err(CoreError::InvalidXoauth2Input);
    }
    Ok(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

/// The initial client response for IMAP (`AUTHENTICATE XOAUTH2 <this>`) and SMTP
/// (`AUTH XOAUTH2 <this>`): `base64("user=" user "\x01auth=Bearer " token "\x01\x01")`.
pub fn xoauth2(user: &str, token: &str) -> Result<String, CoreError> {
    raw(user, token).map(|s| base64(s.as_bytes()))
}

/// The POP3 two-line form: the command `AUTH XOAUTH2`, then, after the server's `+`, the same
/// base64 string on a line of its own. Returned as both lines joined by CRLF.
pub fn xoauth2_pop3(user: &str, token: &str) -> Result<String, CoreError> {
    xoauth2(user, token).map(|s| format!("AUTH XOAUTH2\r\n{s}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::base64_decode;
    use proptest::prelude::*;

    // The published example of Google's and Microsoft's XOAUTH2 documentation.
    const EXAMPLE: &str = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";

    #[test]
    fn matches_the_published_imap_smtp_example() {
        assert_eq!(xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg").unwrap(), EXAMPLE);
    }

    #[test]
    fn pop3_form_is_the_command_then_the_same_string() {
        assert_eq!(xoauth2_pop3("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg").unwrap(), format!("AUTH XOAUTH2\r\n{EXAMPLE}"));
    }

    #[test]
    fn control_characters_and_empty_values_are_refused() {
        for (u, t) in [("a\x01b@x", "t"), ("a@x", "t\r\nQUIT"), ("", "t"), ("a@x", "")] {
            assert_eq!(xoauth2(u, t), Err(CoreError::InvalidXoauth2Input), "{u:?} {t:?}");
        }
    }

    proptest! {
        #[test]
        fn decodes_back_to_user_and_token(user in "[a-z0-9.]{1,20}@[a-z]{1,10}\\.com", token in "[A-Za-z0-9._-]{1,80}") {
            let decoded = String::from_utf8(base64_decode(&xoauth2(&user, &token).unwrap()).unwrap()).unwrap();
            prop_assert_eq!(decoded, format!("user={user}\x01auth=Bearer {token}\x01\x01"));
        }
    }
}
