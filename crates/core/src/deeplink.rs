//! Deep links: where to send the user back after a full-page sign-in, and links that open one
//! message in the webmail from another app.
//!
//! # Security
//! A return target comes from a URL anyone can craft, so only same-origin paths are accepted:
//! never a scheme, a host, or a `//`/`\` prefix that browsers read as one (no open redirect).
//! A message link is parsed into its parts and rebuilt under the configured base, so whatever
//! came in, what goes out is a URL of the webmail.

use crate::encoding::{decimal, form_parse, form_serialize, join, parse_decimal};
use crate::error::CoreError;
use crate::prelude::*;
use crate::provider::Endpoint;

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

/// One message, addressed the way IMAP or a mail header names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageLink {
    /// A folder and the message's IMAP UID, valid while the folder's UIDVALIDITY is unchanged.
    Uid {
        /// The IMAP mailbox name, e.g. `INBOX` or `Archive/2026`.
        folder: String,
        /// The folder's UIDVALIDITY when the link was made.
        uidvalidity: u32,
        /// The message's UID.
        uid: u32,
    },
    /// The `Message-ID` header without its angle brackets, e.g. `abc@example.com`.
    MessageId(String),
}

impl MessageLink {
    /// A link by folder and UID; UIDs and UIDVALIDITY are never 0 (RFC 3501 §2.3.1.1).
    pub fn uid(folder: &str, uidvalidity: u32, uid: u32) -> Result<Self, CoreError> {
        let ok = uid != 0 && uidvalidity != 0 && !folder.is_empty() && folder.len() <= 1024 && !folder.chars().any(char::is_control);
        ok.then(|| MessageLink::Uid { folder: folder.to_owned(), uidvalidity, uid }).ok_or(CoreError::InvalidMessageLink)
    }

    /// A link by Message-ID; angle brackets, if given, are dropped.
    pub fn message_id(id: &str) -> Result<Self, CoreError> {
        let id = id.strip_prefix('<').and_then(|i| i.strip_suffix('>')).unwrap_or(id);
        let ok = id.len() <= 998
            && id.split_once('@').is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
            && id.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
        ok.then(|| MessageLink::MessageId(id.to_owned())).ok_or(CoreError::InvalidMessageLink)
    }

    /// The RFC 2392 `mid:` URL of a Message-ID link; `None` for UID links.
    pub fn mid_url(&self) -> Option<String> {
        match self {
            MessageLink::MessageId(id) => Some(join("mid:", &id.replace('%', "%25").replace('/', "%2F").replace('?', "%3F").replace('#', "%23"))),
            MessageLink::Uid { .. } => None,
        }
    }

    /// The webmail URL that opens this message: `{base}?folder=…&uidvalidity=…&uid=…` or `{base}?mid=…`.
    pub fn to_url(&self, base: &Endpoint) -> String {
        let query = match self {
            MessageLink::Uid { folder, uidvalidity, uid } => {
                form_serialize([("folder", folder.as_str()), ("uidvalidity", &decimal((*uidvalidity).into())), ("uid", &decimal((*uid).into()))])
            }
            MessageLink::MessageId(id) => form_serialize([("mid", id.as_str())]),
        };
        join(&join(base.as_str(), "?"), &query)
    }

    /// Parses a `mid:` URL, or a URL that starts with exactly `base` followed by a query (and
    /// optionally a fragment, ignored). Anything else is refused.
    pub fn parse(input: &str, base: &Endpoint) -> Result<Self, CoreError> {
        if let Some(mid) = input.strip_prefix("mid:") {
            let decoded = form_parse(&join("m=", &mid.replace('+', "%2B")));
            let id = decoded.first().map(|(_, v)| v.as_str()).unwrap_or_default();
            // RFC 2392 also allows `mid:message/content`; a content part is not a message.
            return if mid.contains('/') { Err(CoreError::InvalidMessageLink) } else { Self::message_id(id) };
        }
        let query = input.strip_prefix(base.as_str()).and_then(|rest| rest.strip_prefix('?')).ok_or(CoreError::InvalidMessageLink)?;
        let query = query.split('#').next().unwrap_or_default();
        let params = form_parse(query);
        let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        match (get("mid"), get("folder"), get("uidvalidity"), get("uid")) {
            (Some(mid), None, None, None) => Self::message_id(mid),
            (None, Some(folder), Some(validity), Some(uid)) => {
                // Digits only: `u32::from_str` would also take a sign, which no link writer puts there.
                let number = |s: &str| parse_decimal(s).and_then(|n| u32::try_from(n).ok()).ok_or(CoreError::InvalidMessageLink);
                Self::uid(folder, number(validity)?, number(uid)?)
            }
            _ => Err(CoreError::InvalidMessageLink),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> Endpoint {
        Endpoint::parse("https://mail.example.com/webmail/").unwrap()
    }

    #[test]
    fn message_id_links_drop_brackets_and_round_trip_through_mid_urls() {
        let link = MessageLink::message_id("<a/b?c#d%e@x>").unwrap();
        assert_eq!(link, MessageLink::MessageId("a/b?c#d%e@x".into()));
        let mid = link.mid_url().unwrap();
        assert_eq!(mid, "mid:a%2Fb%3Fc%23d%25e@x");
        assert_eq!(MessageLink::parse(&mid, &base()).unwrap(), link);
    }

    /// `crates/core/tests/vectors/message-links.json`, which the browser module's tests read too.
    #[derive(serde::Deserialize)]
    struct Vectors {
        base: String,
        build: Vec<BuildVector>,
        parse: Vec<ParseVector>,
    }

    #[derive(serde::Deserialize)]
    struct BuildVector {
        link: VectorLink,
        url: String,
    }

    #[derive(serde::Deserialize)]
    struct ParseVector {
        input: String,
        link: Option<VectorLink>,
    }

    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum VectorLink {
        Uid {
            folder: String,
            uidvalidity: u32,
            uid: u32,
        },
        MessageId {
            #[serde(rename = "messageId")]
            message_id: String,
        },
    }

    impl From<VectorLink> for MessageLink {
        fn from(link: VectorLink) -> Self {
            match link {
                VectorLink::Uid { folder, uidvalidity, uid } => MessageLink::Uid { folder, uidvalidity, uid },
                VectorLink::MessageId { message_id } => MessageLink::MessageId(message_id),
            }
        }
    }

    #[test]
    fn the_shared_vectors_build_and_parse_as_written() {
        let vectors: Vectors = serde_json::from_str(include_str!("../tests/vectors/message-links.json")).unwrap();
        let base = Endpoint::parse(&vectors.base).unwrap();
        for v in vectors.build {
            let link = MessageLink::from(v.link);
            assert_eq!(link.to_url(&base), v.url);
            assert_eq!(MessageLink::parse(&v.url, &base).unwrap(), link, "{}", v.url);
        }
        for v in vectors.parse {
            let expected = v.link.map(MessageLink::from).ok_or(CoreError::InvalidMessageLink);
            assert_eq!(MessageLink::parse(&v.input, &base), expected, "{}", v.input);
        }
    }

    proptest! {
        #[test]
        fn uid_links_round_trip(folder in "[^\\p{Cc}]{1,30}", validity in 1u32.., uid in 1u32..) {
            let link = MessageLink::uid(&folder, validity, uid).unwrap();
            prop_assert_eq!(MessageLink::parse(&link.to_url(&base()), &base()).unwrap(), link);
        }

        #[test]
        fn parsed_links_always_rebuild_under_the_base(input in "\\PC{0,60}") {
            if let Ok(link) = MessageLink::parse(&input, &base()) {
                prop_assert!(link.to_url(&base()).starts_with("https://mail.example.com/webmail/?"));
            }
        }
    }

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
