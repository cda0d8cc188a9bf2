// mailconnect/links: the main module's link functions (Rust, src/links.rs), at their old path.
export { linkedMessage, messageLinkUrl, parseMailto, parseMessageLink, registerMailtoHandler } from "./mailconnect.js";
