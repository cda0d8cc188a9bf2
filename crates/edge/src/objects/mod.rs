//! The Worker's Durable Objects, each reached over Workers RPC ([`crate::rpc`]) from its routes.

// `#[durable_object]` generates undocumented wasm-bindgen glue.
#[allow(missing_docs)]
pub(crate) mod app_tokens;
#[allow(missing_docs)]
pub(crate) mod exchanges;
#[allow(missing_docs)]
pub(crate) mod session;
