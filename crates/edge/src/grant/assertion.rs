//! RFC 7523 client assertions: how a certificate connector authenticates, at the token and the
//! revocation endpoint alike.
//!
//! # Security
//! The assertion is signed with the certificate's key in WebCrypto (the key never enters wasm
//! memory again after its import), names the certificate by its `x5t`, is bound to the token
//! endpoint (`aud`) and lives five minutes, with a fresh `jti` each time.

use std::cell::RefCell;
use std::collections::HashMap;

use mailconnect_core::encoding::base64url;
use web_sys::CryptoKey;

use crate::config::{Connector, Credential};
use crate::crypto;
use crate::error::EdgeError;

thread_local! {
    // A connector's key never changes in an isolate, and importing one takes time (README, "Measured").
    static RSA_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
}

/// The `client_assertion` form parameters for a certificate connector; none for a secret.
pub(crate) async fn client_assertion(connector: &Connector) -> Result<Vec<(&'static str, String)>, EdgeError> {
    let Credential::Certificate(certificate) = &connector.credential else {
        return Ok(Vec::new());
    };
    let key = match RSA_KEYS.with_borrow(|keys| keys.get(&connector.id).cloned()) {
        Some(key) => key,
        None => {
            let key = crypto::rsa_key(certificate.key.expose())
                .await
                .map_err(|_| EdgeError::Config { setting: certificate.setting.clone(), problem: "is not an RSA private key in PKCS#8".into() })?;
            RSA_KEYS.with_borrow_mut(|keys| keys.insert(connector.id.clone(), key.clone()));
            key
        }
    };
    let now = super::now();
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": certificate.x5t });
    let claims = serde_json::json!({
        "aud": connector.provider.token_url(),
        "iss": connector.client_id,
        "sub": connector.client_id,
        "jti": base64url(&crypto::random::<16>()?),
        "iat": now,
        "nbf": now,
        // Short-lived: the assertion is sent at once and must not be replayable for long.
        "exp": now + 300,
    });
    let mut jwt = format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()));
    let signature = crypto::sign_rs256(&key, jwt.as_bytes()).await?;
    jwt.push('.');
    jwt.push_str(&base64url(&signature));
    Ok(vec![("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()), ("client_assertion", jwt)])
}
