// The package's one hand-written JavaScript. Every rejection must be an `Error` (stack trace,
// `instanceof Error`, devtools), and a Rust export cannot be one: a #[wasm_bindgen] struct is a
// handle around a pointer, and web-sys can make a plain `Error` but not a subclass of it. So the
// class is declared here and Rust (src/error.rs) builds every MailconnectError through `fail`.
export class MailconnectError extends Error {
  // Spelled out: scripts/build-web.sh minifies the package's JS, local names included.
  static name = "MailconnectError";

  constructor(message, code, action, retryable, errorCodes) {
    super(message);
    this.name = "MailconnectError";
    this.code = code;
    this.action = action;
    this.retryable = retryable;
    // A Uint32Array from Rust; an Array for JSON.stringify and Array.isArray.
    if (errorCodes) this.errorCodes = Array.from(errorCodes);
  }
}

export const fail = (message, code, action, retryable, errorCodes) => new MailconnectError(message, code, action, retryable, errorCodes);
