//! Base64 and form encoding, small enough for the browser bundle (no `url`, no `base64` crate).

use crate::prelude::*;

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8) | u32::from(*chunk.get(2).unwrap_or(&0));
        let sextets = chunk.len() + 1;
        for i in 0..4 {
            if i < sextets {
                out.push(alphabet[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4), as SASL uses.
pub fn base64(bytes: &[u8]) -> String {
    encode(bytes, STD, true)
}

/// Unpadded base64url (RFC 4648 §5), as PKCE and JWTs use.
pub fn base64url(bytes: &[u8]) -> String {
    encode(bytes, URL, false)
}

/// Decodes base64url or standard base64, padded or not. `None` on any invalid character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// `n` in decimal. Not `to_string()`: this crate's browser path avoids Rust's formatting code,
/// which would add kilobytes to the browser module.
pub fn decimal(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Chars, not `String::from_utf8`: its validation is more code than the digits need.
    digits.iter().rev().map(|&d| char::from(d)).collect()
}

/// A number written in digits only, as [`decimal`] writes it (no sign, no exponent, any leading
/// zeros); `None` for anything else or above `u64::MAX`. Not `str::parse`, which also takes a `+`
/// and costs the browser module more.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| if b.is_ascii_digit() { n.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None })
}

/// Where `needle` first occurs in `text`. By byte windows, not `str::find`: a substring search
/// links std's Two-Way searcher into the browser module.
pub fn find(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    text.as_bytes().windows(needle.len()).position(|w| w == needle.as_bytes())
}

/// `a` then `b`, in a new string (`format!` would link the formatting code, as for [`decimal`]).
pub fn join(a: &str, b: &str) -> String {
    let mut out = String::with_capacity(a.len() + b.len());
    out.push_str(a);
    out.push_str(b);
    out
}

/// Percent-encodes for `application/x-www-form-urlencoded` (space as `+`).
pub fn form_encode(value: &str, out: &mut String) {
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// Serializes pairs as a form body or query string.
pub fn form_serialize<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        form_encode(k, &mut out);
        out.push('=');
        form_encode(v, &mut out);
    }
    out
}

/// Parses a query string or fragment (without its leading `?`/`#`) into decoded pairs.
/// Invalid percent escapes are kept literally, as browsers do.
pub fn form_parse(input: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for pair in input.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((form_decode(k), form_decode(v)));
    }
    pairs
}

fn form_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        for (plain, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base64url_uses_url_alphabet_without_padding() {
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64_decode("a b"), None);
    }

    #[test]
    fn decimal_and_join_agree_with_std_formatting() {
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(1_000_000), "1000000");
        assert_eq!(join("mid:", "a@b"), "mid:a@b");
    }

    #[test]
    fn parse_decimal_takes_digits_only_up_to_u64_max() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("000000000000000000000042"), Some(42), "leading zeros, as str::parse takes them");
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "+1", "-1", "1e3", " 1", "1.0", "18446744073709551616", "١"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn find_gives_the_first_occurrence() {
        assert_eq!(find("a%sb%s", "%s"), Some(1));
        assert_eq!(find("{tenantid}", "{tenantid}"), Some(0));
        assert_eq!(find("%", "%s"), None);
    }

    proptest! {
        #[test]
        fn find_is_str_find(text in "[ab%s]{0,12}", needle in "[ab%s]{0,3}") {
            prop_assert_eq!(find(&text, &needle), text.find(needle.as_str()));
        }

        #[test]
        fn decimal_is_display(n in any::<u64>()) {
            prop_assert_eq!(decimal(n), n.to_string());
        }

        #[test]
        fn parse_decimal_reads_what_decimal_writes(n in any::<u64>()) {
            prop_assert_eq!(parse_decimal(&decimal(n)), Some(n));
        }
    }

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(
            form_serialize([("scope", "openid offline_access"), ("r", "https://a/b?c=d&e")]),
            "scope=openid+offline_access&r=https%3A%2F%2Fa%2Fb%3Fc%3Dd%26e"
        );
    }

    #[test]
    fn form_parse_keeps_invalid_escapes_literally() {
        assert_eq!(form_parse("a=%zz&b=%4&c=%41"), vec![("a".into(), "%zz".into()), ("b".into(), "%4".into()), ("c".into(), "A".into())]);
    }

    proptest! {
        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base64_decode(&base64(&bytes)).unwrap(), bytes.clone());
            prop_assert_eq!(base64_decode(&base64url(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn form_encoding_round_trips(k in "\\PC{0,12}", v in "\\PC{0,24}") {
            let s = form_serialize([(k.as_str(), v.as_str())]);
            prop_assert_eq!(form_parse(&s), vec![(k, v)]);
        }
    }
}
