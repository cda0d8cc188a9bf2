//! Links into the webmail from other apps: message links (core's `MessageLink`, the one
//! implementation, held to crates/core/tests/vectors/message-links.json) and `mailto:` links
//! (RFC 6068), once the webmail is registered as the browser's handler for them. Like core, it
//! works on the address as written, never on a resolved URL, so nothing it accepts names another
//! origin.

use crate::browser::{get, is_plain, object, origin, window};
use crate::error::{concat, core_error, fail, misconfigured, Code, Result};
use crate::prelude::*;
use js_sys::Array;
use mailconnect_core::encoding::{find, form_parse, parse_decimal};
use mailconnect_core::{CoreError, Endpoint, MessageLink};
use wasm_bindgen::prelude::*;

/// The parameters that make an address a message link.
const LINK_KEYS: [&str; 4] = ["mid", "folder", "uidvalidity", "uid"];

/// Core's `Endpoint` rule for the webmail's base: https (http only on loopback), no query,
/// fragment or userinfo.
fn base(value: &JsValue) -> Result<Endpoint> {
    let text = value.as_string().unwrap_or_default();
    Endpoint::parse(&text)
        .map_err(|_| misconfigured(&concat(&["invalid message link base \"", &text, "\": use the webmail's https:// address, without query or fragment"])))
}

fn link_js(link: &MessageLink) -> JsValue {
    match link {
        MessageLink::Uid { folder, uidvalidity, uid } => {
            object(&[("folder", &folder.as_str().into()), ("uidvalidity", &(*uidvalidity).into()), ("uid", &(*uid).into())]).into()
        }
        MessageLink::MessageId(id) => object(&[("messageId", &id.as_str().into())]).into(),
    }
}

fn invalid_link(_: CoreError) -> JsValue {
    core_error(&CoreError::InvalidMessageLink)
}

/// `parseMessageLink(input, base)`.
pub(crate) fn parse(input: &str, base_url: &JsValue) -> Result<JsValue> {
    let base = base(base_url)?;
    MessageLink::parse(input, &base).map(|l| link_js(&l)).map_err(invalid_link)
}

/// A UID or UIDVALIDITY: a whole number from 1 to 2³²−1, or its digits.
fn number(value: &JsValue) -> Option<u32> {
    match value.as_f64() {
        Some(n) if (1.0..=u32::MAX as f64).contains(&n) && (n as u32) as f64 == n => Some(n as u32),
        Some(_) => None,
        None => parse_decimal(&value.as_string()?).and_then(|n| u32::try_from(n).ok()),
    }
}

/// `messageLinkUrl(link, base)`.
pub(crate) fn url(link: &JsValue, base_url: &JsValue) -> Result<String> {
    let base = base(base_url)?;
    let message_id = get(link, "messageId");
    let checked = if !is_plain(link) {
        None
    } else if !message_id.is_undefined() {
        message_id.as_string().and_then(|id| MessageLink::message_id(&id).ok())
    } else {
        let folder = get(link, "folder").as_string();
        folder.zip(number(&get(link, "uidvalidity")).zip(number(&get(link, "uid")))).and_then(|(f, (v, u))| MessageLink::uid(&f, v, u).ok())
    };
    let link = checked.ok_or_else(|| misconfigured("messageLinkUrl needs { folder, uidvalidity, uid } (numbers from 1) or { messageId } (local@domain)"))?;
    Ok(link.to_url(&base))
}

/// `linkedMessage(base)`: `undefined` for an address without link parameters or outside `base`.
pub(crate) fn linked(base_url: &JsValue) -> Result<JsValue> {
    let base = base(base_url)?;
    let href = window().location().href().unwrap_or_default();
    let Some(query) = href.strip_prefix(base.as_str()).and_then(|rest| rest.strip_prefix('?')) else { return Ok(JsValue::UNDEFINED) };
    let query = query.split('#').next().unwrap_or_default();
    if !form_parse(query).iter().any(|(k, _)| LINK_KEYS.contains(&k.as_str())) {
        return Ok(JsValue::UNDEFINED);
    }
    MessageLink::parse(&href, &base).map(|l| link_js(&l)).map_err(invalid_link)
}

/// Percent-decodes runs of `%XX`; a run that is not UTF-8, or a malformed escape, stays as it is
/// (RFC 6068 has no `+` for space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let mut run = Vec::new();
        while i + 2 < bytes.len() && bytes[i] == b'%' {
            match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    run.push(h << 4 | l);
                    i += 3;
                }
                _ => break,
            }
        }
        if run.is_empty() {
            let next = s[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&s[i..i + next]);
            i += next;
        } else {
            // The run is UTF-8 when its first chunk has no invalid bytes (`utf8_chunks`, which
            // core's form decoding links anyway, instead of a second validator, `from_utf8`).
            match run.utf8_chunks().next().filter(|chunk| chunk.invalid().is_empty()) {
                Some(chunk) => out.push_str(chunk.valid()),
                None => out.push_str(&s[start..i]),
            }
        }
    }
    out
}

fn addresses(s: &str, into: &mut Vec<String>) {
    into.extend(unescape(s).split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned));
}

fn strings(list: &[String]) -> JsValue {
    list.iter().map(|s| JsValue::from_str(s)).collect::<Array>().into()
}

/// `parseMailto(input)`: `{to, cc, bcc, subject, body, inReplyTo?}`. Headers other than these are
/// dropped, as RFC 6068 §7 advises.
pub(crate) fn parse_mailto(input: &str) -> Result<JsValue> {
    let rest = input.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("mailto:")).map(|_| &input[7..]);
    let rest = rest.ok_or_else(|| fail(Code::InvalidMailto, "this is not a mailto: link"))?;
    let (to_part, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut to, mut cc, mut bcc) = (Vec::new(), Vec::new(), Vec::new());
    let (mut subject, mut body, mut in_reply_to) = (String::new(), String::new(), None);
    addresses(to_part, &mut to);
    for field in query.split('&') {
        let Some((name, value)) = field.split_once('=').filter(|(name, _)| !name.is_empty()) else { continue };
        match unescape(name).to_ascii_lowercase().as_str() {
            "to" => addresses(value, &mut to),
            "cc" => addresses(value, &mut cc),
            "bcc" => addresses(value, &mut bcc),
            "subject" => subject = unescape(value),
            "body" => body = unescape(value),
            "in-reply-to" => in_reply_to = Some(unescape(value)),
            _ => {}
        }
    }
    let message = object(&[("to", &strings(&to)), ("cc", &strings(&cc)), ("bcc", &strings(&bcc)), ("subject", &subject.into()), ("body", &body.into())]);
    if let Some(id) = in_reply_to {
        crate::browser::set(&message, "inReplyTo", &id.into());
    }
    Ok(message.into())
}

/// `registerMailtoHandler(template)`.
pub(crate) fn register_mailto_handler(template: &str) -> Result<()> {
    let here = origin();
    let url = web_sys::Url::new_with_base(template, &window().location().href().unwrap_or_default()).ok();
    let Some(url) = url.filter(|u| u.origin() == here && find(template, "%s").is_some()) else {
        return Err(misconfigured(&concat(&["invalid mailto: handler \"", template, "\": use a URL of ", &here, " with %s where the link goes"])));
    };
    let navigator = window().navigator();
    let register = get(&navigator, "registerProtocolHandler");
    if !register.is_function() {
        return Err(fail(Code::BrowserUnsupported, "this browser does not let web apps open mailto: links"));
    }
    let href = url.href();
    // The third argument, a title, is ignored by browsers and dropped from the standard.
    navigator.register_protocol_handler("mailto", &href, "").map_err(|e| {
        let reason = get(&e, "message").as_string().unwrap_or_default();
        misconfigured(&concat(&["the browser refused the mailto: handler ", &href, ": ", &reason]))
    })
}
