//! What mailconnect's browser module and edge Worker share: providers and tenants, scopes,
//! PKCE, the authorization request and redirect, OAuth and AADSTS errors, XOAUTH2, deep links,
//! and the HTTP contract between the two halves.
//!
//! This crate does no I/O: time and randomness come in as arguments, and URLs come out as
//! strings, so it behaves the same natively, in a browser and in a Worker.
//!
//! ```no_run
//! use mailconnect_core::{AuthorizationRequest, Callback, Expected, Microsoft, PkceVerifier, Prompt, Scopes, State, Tenant, presets};
//!
//! let provider = Microsoft::new(Tenant::parse("contoso.onmicrosoft.com")?);
//! let scopes = Scopes::parse(presets::TEAMS_CALENDAR)?;
//! provider.check_scopes(&scopes)?;
//! let (random_state, random_verifier) = ([7u8; 16], [9u8; 32]); // from a CSPRNG in real code
//! let state = State::from_random(&random_state);
//! let verifier = PkceVerifier::from_random(&random_verifier);
//! let authorize = provider.authorize_url();
//! let scope = scopes.to_string();
//! let redirect_uri = "https://mail.example.com/callback.html";
//! let url = AuthorizationRequest::new(&authorize, "client-id", redirect_uri, &scope, &state, &verifier)
//!     .with_prompt(Prompt::SelectAccount)
//!     .url();
//! // …open `url`; when the redirect arrives at `reached` (its page's URL without query or fragment):
//! let (issuer, reached) = (provider.issuer(), redirect_uri);
//! let expected = Expected { state: &state, redirect_uri, issuer: Some(issuer.as_str()), iss_parameter_supported: false };
//! let code = Callback::parse("?code=…&state=…").ok_or("not a callback")?.verify(&expected, reached)?;
//! # let _ = (url, code);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// No std outside tests: the browser module links no std, so that its panics need no formatting
// (crates/web/src/lib.rs says why); the edge links std through its own dependencies.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

extern crate alloc;

/// What std's prelude gives a module, from `alloc`.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
}

mod auth_code;
pub mod contract;
mod deeplink;
/// Base64 and form encoding without the `url` crate.
pub mod encoding;
mod error;
mod pkce;
mod provider;
mod scope;
mod secret;
mod tenant;
/// The webmail's ticket for its signed-in user (the edge's user binding).
#[cfg(any(test, feature = "edge"))]
pub mod ticket;
mod xoauth2;

pub use auth_code::{AdminConsent, AuthorizationRequest, Callback, Expected, Prompt};
pub use deeplink::{MessageLink, ReturnTo};
pub use error::{Aadsts, Action, CoreError, OAuthError, OAuthErrorCode};
pub use pkce::PkceVerifier;
pub use provider::{Endpoint, Generic, Microsoft, Provider, TENANT_ID_PLACEHOLDER};
pub use scope::{presets, Scope, Scopes};
pub use secret::{ct_eq, AccessToken, AuthCode, ClientSecret, Password, RefreshToken, SessionId, State, Ticket};
pub use tenant::{Authority, Tenant};
pub use xoauth2::{xoauth2, xoauth2_pop3};
