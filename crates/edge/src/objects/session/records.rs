//! A session's records at rest: each sealed with AES-256-GCM under the session's keys, bound to
//! what it holds (a connector's grant, a browser's binding) as associated data.

use std::rc::Rc;

use mailconnect_core::encoding::{base64_decode, base64url};
use mailconnect_core::SessionId;
use web_sys::CryptoKey;
use worker::console_error;

use super::Inner;
use crate::config::Config;
use crate::crypto;
use crate::error::EdgeError;
use crate::grant::Grant;

pub(super) fn record_key(connector: &str) -> String {
    format!("grant:{connector}")
}

pub(super) fn aad(connector: &str) -> Vec<u8> {
    format!("mailconnect/grant/v1/{connector}").into_bytes()
}

impl Inner {
    /// One AES key per session key, newest first: the first seals, any opens.
    pub(super) async fn keys(&self, config: &Config, handle: &SessionId) -> Result<Rc<[CryptoKey]>, EdgeError> {
        if let Some(keys) = self.keys.borrow().as_ref() {
            return Ok(keys.clone());
        }
        let mut keys = Vec::new();
        for session_key in config.session_keys.all() {
            let raw = crypto::derive_key(session_key.expose(), handle.expose().as_bytes(), b"mailconnect/session-key/v1 aes-256-gcm");
            keys.push(crypto::aes_key(&raw).await?);
        }
        let keys: Rc<[CryptoKey]> = keys.into();
        *self.keys.borrow_mut() = Some(keys.clone());
        Ok(keys)
    }

    /// The grant for `id`, from memory or decrypted from storage.
    pub(super) async fn grant(&self, config: &Config, handle: &SessionId, id: &str) -> Result<Option<Grant>, EdgeError> {
        if let Some(grant) = self.grants.borrow().get(id) {
            return Ok(Some(grant.clone()));
        }
        let Some(plain) = self.open_record(config, handle, &record_key(id), &aad(id)).await? else {
            return Ok(None);
        };
        let Some(grant) = plain.and_then(|plain| serde_json::from_slice::<Grant>(&plain).ok()) else {
            // Only a session key removed from SESSION_KEYS (or tampering) does this; the user connects again.
            console_error!("mailconnect: a stored grant for {id} cannot be decrypted");
            return Ok(None);
        };
        // Another call may have stored a newer grant while this one was decrypting.
        Ok(Some(self.grants.borrow_mut().entry(id.to_owned()).or_insert(grant).clone()))
    }

    /// Encrypts and persists `grant`, then caches it.
    pub(super) async fn store(&self, config: &Config, handle: &SessionId, id: &str, grant: &Grant) -> Result<(), EdgeError> {
        let plain = serde_json::to_vec(grant).map_err(|e| EdgeError::Internal(e.to_string()))?;
        self.seal_record(config, handle, &record_key(id), &aad(id), &plain).await?;
        self.grants.borrow_mut().insert(id.to_owned(), grant.clone());
        Ok(())
    }

    /// Encrypts `plain` under the session's newest key, bound to `aad`, and persists it at `key`.
    pub(super) async fn seal_record(&self, config: &Config, handle: &SessionId, key: &str, aad: &[u8], plain: &[u8]) -> Result<(), EdgeError> {
        let keys = self.keys(config, handle).await?;
        // The newest key: there is always one.
        let sealed = crypto::seal(&keys[0], aad, plain).await?;
        Ok(self.state.storage().put(key, base64url(&sealed)).await?)
    }

    /// The record at `key`: `None` if there is none, `Some(None)` if no session key opens it.
    pub(super) async fn open_record(&self, config: &Config, handle: &SessionId, key: &str, aad: &[u8]) -> Result<Option<Option<Vec<u8>>>, EdgeError> {
        let Some(sealed) = self.state.storage().get::<String>(key).await? else {
            return Ok(None);
        };
        let mut plain = None;
        if let Some(bytes) = base64_decode(&sealed) {
            for key in self.keys(config, handle).await?.iter() {
                plain = crypto::open(key, aad, &bytes).await?;
                if plain.is_some() {
                    break;
                }
            }
        }
        Ok(Some(plain))
    }
}
