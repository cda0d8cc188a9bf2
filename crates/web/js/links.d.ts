// mailconnect/links: the main module's link functions, at their old path. Errors are
// MailconnectError: `invalid_message_link` and `invalid_mailto` (action `none`),
// `configuration_error` (a bad base or handler URL), `browser_unsupported`.
export { linkedMessage, messageLinkUrl, parseMailto, parseMessageLink, registerMailtoHandler } from "./mailconnect.js";
export type { Compose, MailconnectError, MessageLink } from "./mailconnect.js";
