// mailconnect/links: links into the webmail from other apps. Opt-in and separate from the main
// module (which has a size budget): only webmails that take such links import it.
//
// - Message links (a CRM, a ticket, a notification opens one message): the format of
//   crates/core/src/deeplink.rs (`MessageLink`), which back ends build with core or the
//   `mailconnect message-link` command. This is its browser twin, in plain JavaScript because
//   core's parser costs the main module's wasm 3 KB gzip; both are held to the same vectors
//   (crates/core/tests/vectors/message-links.json). Like core, it works on the address as
//   written, never on a resolved URL, so nothing it accepts names another origin.
// - mailto: links (RFC 6068), once the webmail is registered as the browser's handler for them.

import { MailconnectError } from "./mailconnect.js";

function fail(code, message, action = "none") {
  return new MailconnectError(message, code, action, false);
}

const invalidLink = () => fail("invalid_message_link", "this link does not open a message of this webmail: ask the sender for a new one");

// ---- message links ----------------------------------------------------------------------------

/** Core's `Endpoint` rule: https (http only on loopback), printable ASCII, no query, fragment or userinfo. */
function checkedBase(base) {
  const [, scheme, host] = /^([a-z]+):\/\/(\[[^\]]*\]|[^/:]*)/.exec(typeof base === "string" ? base : "") ?? [];
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(host);
  const ok = (scheme === "https" || (scheme === "http" && loopback)) && host && host !== "[]" && /^[\x21-\x7e]+$/.test(base) && !/[?#@\\]/.test(base);
  if (!ok) throw fail("configuration_error", `invalid message link base "${base}": use the webmail's https:// address, without query or fragment`, "configuration");
  return base;
}

/** The parameters a message link may carry, in the order `fromParams` takes them. */
const LINK_KEYS = ["mid", "folder", "uidvalidity", "uid"];

/**
 * `[mid, folder, uidvalidity, uid]` (each `null` when absent) of `url` when it is `base` followed
 * by a query, else `undefined`. The query is form-decoded as core's `form_parse` reads it (the
 * browser's URLSearchParams does the same); a fragment is ignored.
 */
function linkParams(url, base) {
  if (!url.startsWith(`${base}?`)) return undefined;
  const params = new URLSearchParams(url.slice(base.length + 1).split("#")[0]);
  return LINK_KEYS.map((k) => params.get(k));
}

/** The link `linkParams` found: a Message-ID alone, or folder, UIDVALIDITY and UID together. */
function fromParams([mid, folder, uidvalidity, uid]) {
  if (mid !== null && folder === null && uidvalidity === null && uid === null) return messageIdLink(mid);
  if (mid === null && folder !== null && uidvalidity !== null && uid !== null) return uidLink(folder, uidvalidity, uid);
  throw invalidLink();
}

/** UTF-8 length, the unit of core's limits. */
const bytes = (s) => new TextEncoder().encode(s).length;

function uidLink(folder, uidvalidity, uid) {
  // UIDs and UIDVALIDITY are never 0 (RFC 3501 §2.3.1.1); digits only, as core reads them.
  const number = (s) => (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 0xffffffff ? Number(s) : undefined);
  const [validity, id] = [number(uidvalidity), number(uid)];
  if (!folder || bytes(folder) > 1024 || /[\u0000-\u001f\u007f-\u009f]/.test(folder) || !validity || !id) throw invalidLink();
  return { folder, uidvalidity: validity, uid: id };
}

function messageIdLink(value) {
  const id = value.startsWith("<") && value.endsWith(">") ? value.slice(1, -1) : value;
  const at = id.indexOf("@");
  if (bytes(id) > 998 || at < 1 || at === id.length - 1 || !/^[\x21-\x7e]*$/.test(id) || /[<>]/.test(id)) throw invalidLink();
  return { messageId: id };
}

/**
 * The message a link opens: `{folder, uidvalidity, uid}` or `{messageId}`. The link is a URL that
 * starts with exactly `base` and a query, or an RFC 2392 `mid:` URL; anything else throws
 * `invalid_message_link`.
 */
export function parseMessageLink(input, base) {
  checkedBase(base);
  const link = String(input);
  if (link.startsWith("mid:")) {
    // A `mid:message/content` URL names a part of a message, not a message.
    if (link.includes("/")) throw invalidLink();
    return messageIdLink(new URLSearchParams(`m=${link.slice(4).replaceAll("+", "%2B")}`).get("m") ?? "");
  }
  const params = linkParams(link, base);
  if (!params) throw invalidLink();
  return fromParams(params);
}

/** The webmail URL under `base` that opens `link` (core's `MessageLink::to_url`). */
export function messageLinkUrl(link, base) {
  checkedBase(base);
  let checked;
  try {
    checked = link?.messageId !== undefined ? messageIdLink(String(link.messageId)) : uidLink(link?.folder, String(link?.uidvalidity), String(link?.uid));
  } catch {
    throw fail("configuration_error", "messageLinkUrl needs { folder, uidvalidity, uid } (numbers from 1) or { messageId } (local@domain)", "configuration");
  }
  const query = "messageId" in checked ? [["mid", checked.messageId]] : [["folder", checked.folder], ["uidvalidity", checked.uidvalidity], ["uid", checked.uid]];
  return `${base}?${new URLSearchParams(query)}`;
}

/**
 * The message this page's address links to, `undefined` when it is not a message link (no
 * `mid`, `folder`, `uidvalidity` or `uid` parameter, or a page outside `base`). A link that
 * carries those parameters but is damaged throws `invalid_message_link`, so the webmail can say
 * so. The address is left as it is: a sign-in by redirect (`connect()`'s default `returnTo`)
 * comes back to it, and the link is routed again.
 */
export function linkedMessage(base) {
  checkedBase(base);
  const params = linkParams(location.href, base);
  return params && params.some((v) => v !== null) ? fromParams(params) : undefined;
}

// ---- mailto: ----------------------------------------------------------------------------------

/** Percent-decodes; a malformed escape stays as it is (RFC 6068 has no `+` for space). */
const unescape = (s) => s.replace(/(%[0-9a-f]{2})+/gi, (run) => {
  try {
    return decodeURIComponent(run);
  } catch {
    return run;
  }
});

const addresses = (s) => unescape(s).split(",").map((a) => a.trim()).filter(Boolean);

/**
 * A `mailto:` URL (RFC 6068) as a message to compose: `{to, cc, bcc, subject, body, inReplyTo?}`.
 * Headers other than these are dropped, as RFC 6068 §7 advises; `invalid_mailto` when `input`
 * is not a mailto: URL.
 */
export function parseMailto(input) {
  const url = String(input);
  if (!/^mailto:/i.test(url)) throw fail("invalid_mailto", "this is not a mailto: link");
  const [to, query = ""] = url.slice(7).split(/\?(.*)/s);
  const message = { to: addresses(to), cc: [], bcc: [], subject: "", body: "" };
  for (const field of query.split("&")) {
    const eq = field.indexOf("=");
    if (eq < 1) continue;
    const name = unescape(field.slice(0, eq)).toLowerCase();
    const value = field.slice(eq + 1);
    if (name === "to" || name === "cc" || name === "bcc") message[name].push(...addresses(value));
    else if (name === "subject" || name === "body") message[name] = unescape(value);
    else if (name === "in-reply-to") message.inReplyTo = unescape(value);
  }
  return message;
}

/**
 * Asks the browser to open `mailto:` links in this webmail: `template` is a URL of this origin
 * with `%s` where the browser puts the whole (percent-encoded) mailto: URL, e.g.
 * `location.origin + "/compose?mailto=%s"`. The browser asks the user; nothing says whether they
 * agreed. `browser_unsupported` where the browser has no handlers (Safari, mobile browsers).
 */
export function registerMailtoHandler(template) {
  let url;
  try {
    url = new URL(template, location.href);
  } catch {
    url = undefined;
  }
  if (!url || url.origin !== location.origin || !String(template).includes("%s")) {
    throw fail("configuration_error", `invalid mailto: handler "${template}": use a URL of ${location.origin} with %s where the link goes`, "configuration");
  }
  if (typeof navigator.registerProtocolHandler !== "function") {
    throw fail("browser_unsupported", "this browser does not let web apps open mailto: links");
  }
  try {
    navigator.registerProtocolHandler("mailto", url.href);
  } catch (e) {
    throw fail("configuration_error", `the browser refused the mailto: handler ${url.href}: ${e.message}`, "configuration");
  }
}
