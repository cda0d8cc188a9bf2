//! The few cryptographic operations the Worker needs.
//!
//! AES-256-GCM, RS256 and Ed25519 run in WebCrypto: natively, with AES-NI, and without shipping an RSA
//! implementation in the wasm. HKDF-SHA-256 runs in Rust: it is two HMACs over a few bytes,
//! cheaper than WebCrypto's two promise round trips. Randomness comes from
//! `crypto.getRandomValues` (through `getrandom`).

use hkdf::Hkdf;
use js_sys::{Array, Object, Reflect, Uint8Array};
use sha2::Sha256;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto, WorkerGlobalScope};

use crate::error::{js_message, EdgeError};

const IV_LEN: usize = 12;

/// `N` bytes from the platform's CSPRNG.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], EdgeError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| EdgeError::Internal(format!("getRandomValues: {e}")))?;
    Ok(bytes)
}

/// A 256-bit key for one purpose, derived from a long-term secret (RFC 5869).
pub(crate) fn derive_key(secret: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), secret).expand(info, &mut key).expect("unreachable: 32 bytes is a valid HKDF-SHA-256 output length");
    key
}

fn subtle() -> Result<SubtleCrypto, EdgeError> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.crypto().map_err(js_error)?.subtle())
}

fn js_error(e: JsValue) -> EdgeError {
    EdgeError::Internal(format!("WebCrypto: {}", js_message(&e)))
}

fn algorithm(name: &str) -> Result<Object, EdgeError> {
    let object = Object::new();
    Reflect::set(&object, &"name".into(), &name.into()).map_err(js_error)?;
    Ok(object)
}

async fn promise<T: JsCast>(p: Result<js_sys::Promise, JsValue>) -> Result<T, EdgeError> {
    JsFuture::from(p.map_err(js_error)?).await.map_err(js_error)?.dyn_into().map_err(js_error)
}

/// An AES-256-GCM key, usable only to encrypt and decrypt.
pub(crate) async fn aes_key(raw: &[u8; 32]) -> Result<CryptoKey, EdgeError> {
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    promise(subtle()?.import_key_with_object("raw", &Uint8Array::from(&raw[..]), &algorithm("AES-GCM")?, false, &usages)).await
}

fn gcm(iv: &[u8], aad: &[u8]) -> AesGcmParams {
    let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(iv));
    params.set_additional_data_u8_array(&Uint8Array::from(aad));
    params
}

/// Encrypts `plaintext` bound to `aad`: a fresh random IV, then the ciphertext and tag.
pub(crate) async fn seal(key: &CryptoKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EdgeError> {
    let iv = random::<IV_LEN>()?;
    let sealed: js_sys::ArrayBuffer = promise(subtle()?.encrypt_with_object_and_js_u8_array(&gcm(&iv, aad), key, &Uint8Array::from(plaintext))).await?;
    let mut out = iv.to_vec();
    out.extend(Uint8Array::new(&sealed).to_vec());
    Ok(out)
}

/// Decrypts what [`seal`] made with the same key and `aad`; `None` if it was not.
pub(crate) async fn open(key: &CryptoKey, aad: &[u8], sealed: &[u8]) -> Result<Option<Vec<u8>>, EdgeError> {
    if sealed.len() < IV_LEN + 16 {
        return Ok(None);
    }
    let (iv, ciphertext) = sealed.split_at(IV_LEN);
    let result = subtle()?.decrypt_with_object_and_js_u8_array(&gcm(iv, aad), key, &Uint8Array::from(ciphertext)).map_err(js_error)?;
    // A wrong key or a tampered record rejects the promise: that is "cannot open", not a failure.
    Ok(JsFuture::from(result).await.ok().and_then(|plain| plain.dyn_into::<js_sys::ArrayBuffer>().ok()).map(|plain| Uint8Array::new(&plain).to_vec()))
}

/// An RSA private key (PKCS#8 DER) for RS256 signatures.
pub(crate) async fn rsa_key(pkcs8: &[u8]) -> Result<CryptoKey, EdgeError> {
    let params = algorithm("RSASSA-PKCS1-v1_5")?;
    Reflect::set(&params, &"hash".into(), &"SHA-256".into()).map_err(js_error)?;
    promise(subtle()?.import_key_with_object("pkcs8", &Uint8Array::from(pkcs8), &params, false, &Array::of1(&"sign".into()))).await
}

/// An RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `data`.
pub(crate) async fn sign_rs256(key: &CryptoKey, data: &[u8]) -> Result<Vec<u8>, EdgeError> {
    let signature: js_sys::ArrayBuffer = promise(subtle()?.sign_with_str_and_js_u8_array("RSASSA-PKCS1-v1_5", key, &Uint8Array::from(data))).await?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// Whether `signature` is `public_key`'s Ed25519 signature of `data` (RFC 8032). A malformed
/// signature is one that does not verify.
pub(crate) async fn verify_ed25519(public_key: &[u8; 32], data: &[u8], signature: &[u8]) -> Result<bool, EdgeError> {
    let usages = Array::of1(&"verify".into());
    let key: CryptoKey = promise(subtle()?.import_key_with_object("raw", &Uint8Array::from(&public_key[..]), &algorithm("Ed25519")?, false, &usages)).await?;
    let verified = subtle()?.verify_with_str_and_js_u8_array_and_js_u8_array("Ed25519", &key, &Uint8Array::from(signature), &Uint8Array::from(data));
    Ok(JsFuture::from(verified.map_err(js_error)?).await.map_err(js_error)?.as_bool() == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = derive_key(&ikm, &salt, &info);
        assert_eq!(okm[..], hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf")[..]);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
