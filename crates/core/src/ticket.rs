//! The webmail's ticket: a compact JWS (RFC 7515) by which the webmail's back end vouches for
//! its signed-in user, so that the edge can bind a browser's session to that user.
//!
//! ```text
//! header  {"alg":"EdDSA","typ":"JWT","kid":"<kid>"}
//! claims  {"aud":"mailconnect","sub":"<AccountId>","iat":<s>,"exp":<s>,"jti":"<16+ random chars>"}
//! ```
//!
//! [`parse`] does everything but the signature, which needs WebCrypto: the shape, the algorithm
//! and the claim rules. The edge then verifies [`Unverified::signature`] over
//! [`Unverified::signing_input`] with the public key named by [`Unverified::kid`], and only then
//! takes the [`Claims`] out with [`Unverified::into_verified_claims`].
//!
//! # Security
//! Only `EdDSA` (Ed25519) is accepted, whatever the header says otherwise (`none`, `HS256` with
//! a public key as the secret: RFC 8725 §2.1); a `crit` header is refused, since no extension is
//! understood. A ticket lives at most [`MAX_LIFETIME`] seconds and is single use: the edge
//! remembers its `jti` until `exp`. Base64url parts must be unpadded and canonical, so that one
//! ticket has exactly one spelling and a `jti` cannot be replayed under another.

use crate::contract::AccountId;
use crate::encoding::{base64_decode, base64url};
use crate::prelude::*;
use serde::Deserialize;

/// The only audience a ticket may name.
pub const AUDIENCE: &str = "mailconnect";
/// The longest a ticket may live, `exp - iat`, in seconds.
pub const MAX_LIFETIME: u64 = 300;
/// How far the webmail's clock may run ahead of the edge's, in seconds.
pub const CLOCK_SKEW: u64 = 60;
/// The shortest `jti`: 16 characters of randomness.
pub const MIN_JTI_LEN: usize = 16;
/// The longest `jti`, and `kid`.
const MAX_ID_LEN: usize = 128;
/// Far more than a ticket needs; longer input is refused before it is decoded.
const MAX_TICKET_LEN: usize = 2048;
/// An Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

/// Why a ticket is refused. Messages are static and never quote the ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// Not three canonical base64url parts of JSON with the claims' types.
    #[error("the ticket is not a compact JWS with the expected header and claims")]
    Malformed,
    /// The header's `alg` is not `EdDSA`, or it has a `crit`.
    #[error("the ticket must be signed with EdDSA (Ed25519)")]
    Algorithm,
    /// `aud` is not, nor contains, `mailconnect`.
    #[error("the ticket's audience is not mailconnect")]
    Audience,
    /// `sub` is not an account id (1 to 128 of `A-Z a-z 0-9 . _ - @ +`).
    #[error("the ticket's subject is not an account id")]
    Subject,
    /// `jti` is shorter than 16 or longer than 128 characters, or not printable ASCII.
    #[error("the ticket's jti must be 16 to 128 printable ASCII characters")]
    Jti,
    /// `exp` has passed.
    #[error("the ticket has expired")]
    Expired,
    /// `exp - iat` is more than 300 seconds, or negative.
    #[error("the ticket lives longer than 300 seconds")]
    Lifetime,
    /// `iat` is more than 60 seconds ahead of the edge's clock.
    #[error("the ticket was issued in the future")]
    NotYetValid,
    /// No key in `USER_TICKET_KEYS` has the header's `kid`.
    #[error("the ticket's kid names no key in USER_TICKET_KEYS")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("the ticket's signature does not verify")]
    Signature,
    /// This ticket's `jti` was presented before.
    #[error("the ticket was already used")]
    Replayed,
}

impl TicketError {
    /// A stable snake_case name, for logs and tests.
    pub fn reason(self) -> &'static str {
        match self {
            TicketError::Malformed => "malformed",
            TicketError::Algorithm => "algorithm",
            TicketError::Audience => "audience",
            TicketError::Subject => "subject",
            TicketError::Jti => "jti",
            TicketError::Expired => "expired",
            TicketError::Lifetime => "lifetime",
            TicketError::NotYetValid => "not_yet_valid",
            TicketError::UnknownKey => "unknown_key",
            TicketError::Signature => "signature",
            TicketError::Replayed => "replayed",
        }
    }
}

/// What a valid ticket says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The webmail's signed-in user (`sub`).
    pub account: AccountId,
    /// The ticket's id (`jti`), to be remembered until [`Claims::exp`].
    pub jti: String,
    /// When the ticket expires, in seconds since the Unix epoch.
    pub exp: u64,
}

/// A ticket whose shape and claims are valid, and whose signature is still to be verified.
#[derive(Debug)]
pub struct Unverified {
    kid: String,
    signing_input: String,
    signature: Vec<u8>,
    claims: Claims,
}

impl Unverified {
    /// The key id from the header, to find the public key with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// What was signed: `base64url(header) "." base64url(claims)`.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The 64-byte Ed25519 signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The claims. Call only once the signature verified.
    pub fn into_verified_claims(self) -> Claims {
        self.claims
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// `aud`, a string or an array of strings (RFC 7519 §4.1.3): whether it names [`AUDIENCE`].
/// A visitor rather than an untagged enum, whose buffering code the Worker would carry.
struct Audience(bool);

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Audience;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, aud: &str) -> Result<Audience, E> {
                Ok(Audience(aud == AUDIENCE))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut found = false;
                while let Some(aud) = seq.next_element::<String>()? {
                    found |= aud == AUDIENCE;
                }
                Ok(Audience(found))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
struct RawClaims {
    aud: Audience,
    sub: String,
    iat: u64,
    exp: u64,
    jti: String,
}

/// Checks `ticket`'s shape, algorithm and claims at `now` (seconds since the Unix epoch).
pub fn parse(ticket: &str, now: u64) -> Result<Unverified, TicketError> {
    if ticket.len() > MAX_TICKET_LEN {
        return Err(TicketError::Malformed);
    }
    let mut parts = ticket.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TicketError::Malformed);
    };
    let header: Header = json(&decode(header)?)?;
    if header.alg != "EdDSA" || header.crit.is_some() {
        return Err(TicketError::Algorithm);
    }
    if header.kid.is_empty() || header.kid.len() > MAX_ID_LEN {
        return Err(TicketError::UnknownKey);
    }
    let raw: RawClaims = json(&decode(claims)?)?;
    let signature = decode(signature)?;
    if signature.len() != SIGNATURE_LEN {
        return Err(TicketError::Malformed);
    }
    if !raw.aud.0 {
        return Err(TicketError::Audience);
    }
    let account = AccountId::parse(&raw.sub).ok_or(TicketError::Subject)?;
    if raw.jti.len() < MIN_JTI_LEN || raw.jti.len() > MAX_ID_LEN || !raw.jti.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TicketError::Jti);
    }
    if raw.exp <= now {
        return Err(TicketError::Expired);
    }
    if raw.exp < raw.iat || raw.exp - raw.iat > MAX_LIFETIME {
        return Err(TicketError::Lifetime);
    }
    if raw.iat > now + CLOCK_SKEW {
        return Err(TicketError::NotYetValid);
    }
    let signing_input = ticket.rsplit_once('.').map_or("", |(input, _)| input).to_owned();
    Ok(Unverified { kid: header.kid, signing_input, signature, claims: Claims { account, jti: raw.jti, exp: raw.exp } })
}

/// Unpadded, canonical base64url: exactly the alphabet, and re-encoding gives the same text.
fn decode(part: &str) -> Result<Vec<u8>, TicketError> {
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if part.is_empty() || !part.bytes().all(alphabet) {
        return Err(TicketError::Malformed);
    }
    let bytes = base64_decode(part).ok_or(TicketError::Malformed)?;
    if base64url(&bytes) != part {
        return Err(TicketError::Malformed);
    }
    Ok(bytes)
}

fn json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, TicketError> {
    serde_json::from_slice(bytes).map_err(|_| TicketError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn part(json: &str) -> String {
        base64url(json.as_bytes())
    }

    fn ticket(header: &str, claims: &str) -> String {
        format!("{}.{}.{}", part(header), part(claims), base64url(&[7; 64]))
    }

    fn claims(aud: &str, sub: &str, iat: u64, exp: u64, jti: &str) -> String {
        format!(r#"{{"aud":{aud},"sub":"{sub}","iat":{iat},"exp":{exp},"jti":"{jti}"}}"#)
    }

    const HEADER: &str = r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#;
    const JTI: &str = "0123456789abcdef";

    #[test]
    fn a_valid_ticket_gives_its_kid_signing_input_signature_and_claims() {
        let t = ticket(HEADER, &claims(r#""mailconnect""#, "ada@example.com", NOW, NOW + 300, JTI));
        let u = parse(&t, NOW).unwrap();
        assert_eq!(u.kid(), "k1");
        assert_eq!(u.signing_input(), t.rsplit_once('.').unwrap().0.as_bytes());
        assert_eq!(u.signature(), &[7; 64]);
        let c = u.into_verified_claims();
        assert_eq!((c.account.as_str(), c.jti.as_str(), c.exp), ("ada@example.com", JTI, NOW + 300));
    }

    #[test]
    fn the_audience_may_be_an_array_containing_mailconnect() {
        assert!(parse(&ticket(HEADER, &claims(r#"["other","mailconnect"]"#, "ada", NOW, NOW + 60, JTI)), NOW).is_ok());
        for aud in [r#""other""#, r#"["other"]"#, r#"[]"#, r#""Mailconnect""#, "1"] {
            let e = parse(&ticket(HEADER, &claims(aud, "ada", NOW, NOW + 60, JTI)), NOW).unwrap_err();
            assert!(matches!(e, TicketError::Audience | TicketError::Malformed), "{aud}: {e:?}");
        }
    }

    #[test]
    fn time_rules_expiry_lifetime_and_clock_skew() {
        let at = |iat, exp, now| parse(&ticket(HEADER, &claims(r#""mailconnect""#, "ada", iat, exp, JTI)), now).map(|_| ());
        assert_eq!(at(NOW - 10, NOW, NOW), Err(TicketError::Expired), "exp must be after now");
        assert_eq!(at(NOW, NOW + 301, NOW), Err(TicketError::Lifetime));
        assert_eq!(at(NOW + 10, NOW + 5, NOW), Err(TicketError::Lifetime), "exp before iat");
        assert_eq!(at(NOW + 61, NOW + 100, NOW), Err(TicketError::NotYetValid));
        assert_eq!(at(NOW + 60, NOW + 100, NOW), Ok(()), "60 s of skew are tolerated");
    }

    #[test]
    fn only_eddsa_is_accepted_and_crit_is_refused() {
        for header in [r#"{"alg":"none","kid":"k1"}"#, r#"{"alg":"HS256","kid":"k1"}"#, r#"{"alg":"EdDSA","kid":"k1","crit":["b64"]}"#] {
            assert_eq!(parse(&ticket(header, &claims(r#""mailconnect""#, "ada", NOW, NOW + 60, JTI)), NOW).unwrap_err(), TicketError::Algorithm, "{header}");
        }
    }

    #[test]
    fn subjects_and_jtis_are_checked() {
        let with = |sub: &str, jti: &str| parse(&ticket(HEADER, &claims(r#""mailconnect""#, sub, NOW, NOW + 60, jti)), NOW).unwrap_err();
        assert_eq!(with("a/b", JTI), TicketError::Subject);
        assert_eq!(with("", JTI), TicketError::Subject);
        assert_eq!(with("ada", "short"), TicketError::Jti);
        assert_eq!(with("ada", "0123456789abcde f"), TicketError::Jti);
    }

    #[test]
    fn malformed_tickets_padding_and_non_canonical_base64_are_refused() {
        let good = ticket(HEADER, &claims(r#""mailconnect""#, "ada", NOW, NOW + 60, JTI));
        let (input, sig) = good.rsplit_once('.').unwrap();
        let cases = [
            String::new(),
            "a.b".into(),
            format!("{good}.x"),
            format!("{input}.{sig}="),
            format!("{input}.{}", sig.replace('w', "/")),
            format!("{input}.{}", base64url(&[7; 63])),
            good.replacen('e', "=", 1),
            format!("{}.{}.{sig}", part(HEADER), part(r#"{"aud":"mailconnect"}"#)),
            format!("{}.{}.{sig}", part(HEADER), part("not json")),
            "x".repeat(MAX_TICKET_LEN + 1),
        ];
        for bad in cases {
            assert_eq!(parse(&bad, NOW).unwrap_err(), TicketError::Malformed, "{bad}");
        }
        // The last character of a 64-byte signature carries 4 unused bits, which must be zero.
        let last = sig.as_bytes()[sig.len() - 1];
        let mut other = sig.as_bytes().to_vec();
        *other.last_mut().unwrap() = if last == b'w' { b'x' } else { last + 1 };
        let other = format!("{input}.{}", String::from_utf8(other).unwrap());
        assert_eq!(parse(&other, NOW).unwrap_err(), TicketError::Malformed, "a second spelling of the same bytes");
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let doubled = r#"{"aud":"mailconnect","sub":"ada","sub":"grace","iat":1800000000,"exp":1800000060,"jti":"0123456789abcdef"}"#;
        assert_eq!(parse(&ticket(HEADER, doubled), NOW).unwrap_err(), TicketError::Malformed);
    }
}
