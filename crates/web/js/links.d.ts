// mailconnect/links: message links from other apps, and mailto: links, into the webmail.
// Errors are the main module's MailconnectError: `invalid_message_link` and `invalid_mailto`
// (action `none`), `configuration_error` (a bad base or handler URL), `browser_unsupported`.

import type { MailconnectError } from "./mailconnect.js";
export type { MailconnectError };

/**
 * One message: by IMAP folder and UID (valid while the folder's UIDVALIDITY is unchanged), or by
 * its Message-ID header without angle brackets.
 */
export type MessageLink = { folder: string; uidvalidity: number; uid: number } | { messageId: string };

/**
 * The message a link opens. `base` is the webmail's address for message links, e.g.
 * `"https://mail.example.com/webmail/"`; the link is `{base}?folder=…&uidvalidity=…&uid=…`,
 * `{base}?mid=…`, or an RFC 2392 `mid:` URL. Throws `invalid_message_link` for anything else:
 * what it returns never names another origin.
 */
export function parseMessageLink(input: string, base: string): MessageLink;

/** The URL under `base` that opens `link` (what `mailconnect message-link` prints). */
export function messageLinkUrl(link: MessageLink, base: string): string;

/**
 * The message this page's address links to, or `undefined` when it is no message link. Throws
 * `invalid_message_link` for a damaged one. Call it on load: after a sign-in by redirect the page
 * comes back to the same address, so the link is routed again.
 */
export function linkedMessage(base: string): MessageLink | undefined;

/** A message to compose. */
export interface Compose {
    to: string[];
    cc: string[];
    bcc: string[];
    subject: string;
    body: string;
    inReplyTo?: string;
}

/** A `mailto:` URL (RFC 6068); headers other than to, cc, bcc, subject, body and in-reply-to are dropped. */
export function parseMailto(url: string): Compose;

/**
 * Asks the browser to open `mailto:` links here. `template` is a URL of this origin with `%s`
 * where the browser puts the percent-encoded mailto: URL, e.g. `"/?compose=%s"`. The browser asks
 * the user, and does not say what they chose.
 */
export function registerMailtoHandler(template: string): void;
