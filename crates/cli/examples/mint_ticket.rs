//! Mints a user ticket the way a webmail's back end does (README, "Sessions that belong to the
//! webmail's users"): a compact JWS signed with Ed25519 (`alg` EdDSA), naming the signed-in user
//! in `sub`, for the browser module to present to the edge once. Only `ring`, `base64` and
//! `serde_json`, as a back end written in Rust would have them.
//!
//! ```text
//! cargo run -q -p mailconnect-cli --example mint_ticket -- new-key 2026-12
//! # TICKET_SIGNING_KEY=MC4CAQAwBQYDK2VwBCIEI...   (the back end's secret)
//! # USER_TICKET_KEYS=2026-12:11qYAYKxCrfVS_7Tyk...  (the edge's setting)
//! TICKET_SIGNING_KEY=... cargo run -q -p mailconnect-cli --example mint_ticket -- 2026-12 ada@contoso.com
//! ```
//! `TICKET_SIGNING_KEY` is the base64 of a PKCS#8 Ed25519 key; Node's
//! `privateKey.export({format: "der", type: "pkcs8"}).toString("base64")` is one too.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a ticket lives: it is presented once, right after it is minted (the edge takes 300 s at most).
const LIFETIME: u64 = 60;

/// The ticket for `account`, signed with `key` published under `kid`; `jti` is random and used once.
fn mint(key: &Ed25519KeyPair, kid: &str, account: &str, now: u64, jti: &[u8; 16]) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
    let claims = serde_json::json!({ "aud": "mailconnect", "sub": account, "iat": now, "exp": now + LIFETIME, "jti": URL_SAFE_NO_PAD.encode(jti) });
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A fresh key pair: the back end's secret, and the entry of the edge's `USER_TICKET_KEYS`.
fn new_key(rng: &SystemRandom, kid: &str) -> Result<(String, String), &'static str> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| "no randomness")?;
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "unreachable: ring's own key")?;
    Ok((STANDARD.encode(pkcs8.as_ref()), format!("{kid}:{}", URL_SAFE_NO_PAD.encode(key.public_key()))))
}

fn main() -> Result<(), &'static str> {
    let rng = SystemRandom::new();
    match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [command, kid] if command == "new-key" => {
            let (private, public) = new_key(&rng, kid)?;
            println!("TICKET_SIGNING_KEY={private}\nUSER_TICKET_KEYS={public}");
        }
        [kid, account] => {
            let private = std::env::var("TICKET_SIGNING_KEY").map_err(|_| "set TICKET_SIGNING_KEY to the base64 of a PKCS#8 Ed25519 key")?;
            let der = STANDARD.decode(private.trim()).map_err(|_| "TICKET_SIGNING_KEY is not base64")?;
            let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| "TICKET_SIGNING_KEY is not a PKCS#8 Ed25519 key")?;
            let mut jti = [0; 16];
            rng.fill(&mut jti).map_err(|_| "no randomness")?;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| "the clock is before 1970")?.as_secs();
            println!("{}", mint(&key, kid, account, now, &jti));
        }
        _ => return Err("usage: mint_ticket new-key KID, or TICKET_SIGNING_KEY=... mint_ticket KID ACCOUNT"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ED25519};

    #[test]
    fn the_ticket_verifies_with_the_published_key_and_says_what_the_edge_checks() {
        let (private, public) = new_key(&SystemRandom::new(), "2026-12").unwrap();
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&STANDARD.decode(private).unwrap()).unwrap();
        let ticket = mint(&key, "2026-12", "ada@contoso.com", 1_800_000_000, &[7; 16]);

        let (kid, x) = public.split_once(':').unwrap();
        let (signing_input, signature) = ticket.rsplit_once('.').unwrap();
        let public_key = UnparsedPublicKey::new(&ED25519, URL_SAFE_NO_PAD.decode(x).unwrap());
        public_key.verify(signing_input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        assert!(public_key.verify(format!("{signing_input}x").as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap()).is_err());

        let part =
            |i: usize| -> serde_json::Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signing_input.split('.').nth(i).unwrap()).unwrap()).unwrap() };
        assert_eq!(part(0), serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid }));
        assert_eq!(
            part(1),
            serde_json::json!({ "aud": "mailconnect", "sub": "ada@contoso.com", "iat": 1_800_000_000, "exp": 1_800_000_060, "jti": "BwcHBwcHBwcHBwcHBwcHBw" })
        );
    }

    #[test]
    fn reads_a_key_exported_by_node_and_derives_the_same_public_key() {
        // A throwaway pair from crypto.generateKeyPairSync("ed25519"): privateKey.export({format: "der",
        // type: "pkcs8"}) (PKCS#8 v1, no public key in it) and publicKey.export({format: "jwk"}).x.
        let node = STANDARD.decode("MC4CAQAwBQYDK2VwBCIEIDihFYEaRGkt1cmnrPoTh9fAPM1+KVB8vGieSYS7hHFD").unwrap();
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&node).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(key.public_key()), "bgf-MKNRrQujalOi5lyFG9ek0-UvdpKM82ZMhAjUmUE");
    }
}
