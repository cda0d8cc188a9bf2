//! What an access token says about itself: the claims of a JWT's payload, read without checking
//! the signature. The mail server checks the signature; `doctor` only explains what the server
//! will see, so it must read the same token the server gets, never print it.

use mailconnect_core::encoding::base64_decode;
use serde::Deserialize;

/// The claims `doctor` reasons about. Entra's v1 and v2 tokens name the user differently; all
/// three names are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// The resource the token is for (`https://outlook.office365.com`, an app id GUID, ...).
    #[serde(default)]
    pub aud: String,
    /// Application permissions (app-only tokens).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated permissions, space-separated (tokens for a user).
    #[serde(default)]
    pub scp: Option<String>,
    /// The tenant.
    #[serde(default)]
    pub tid: Option<String>,
    /// Expiry, issued-at and not-before, in seconds since the Unix epoch.
    pub exp: Option<u64>,
    #[serde(default)]
    pub iat: Option<u64>,
    #[serde(default)]
    pub nbf: Option<u64>,
    /// The client the token was issued to (v2 `azp`, v1 `appid`).
    #[serde(default, alias = "appid")]
    pub azp: Option<String>,
    /// The object id of the user, or of the app's service principal in app-only tokens.
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    unique_name: Option<String>,
}

/// Why a token's claims could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not three dot-separated parts: an opaque token (personal Microsoft accounts get those).
    NotJwt,
    /// The payload is not base64url-encoded JSON with the expected types.
    BadPayload,
}

impl Claims {
    /// Reads the payload of a compact JWS, without verifying it.
    pub fn read(token: &str) -> Result<Claims, ClaimsError> {
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(ClaimsError::NotJwt);
        };
        let json = base64_decode(payload).ok_or(ClaimsError::BadPayload)?;
        serde_json::from_slice(&json).map_err(|_| ClaimsError::BadPayload)
    }

    /// App-only (client credentials): roles and no delegated scopes.
    pub fn is_app_only(&self) -> bool {
        self.scp.is_none()
    }

    /// The signed-in user of a delegated token.
    pub fn user(&self) -> Option<&str> {
        self.preferred_username.as_deref().or(self.upn.as_deref()).or(self.unique_name.as_deref())
    }

    /// The permissions the token carries: roles, or the delegated scopes.
    pub fn permissions(&self) -> Vec<&str> {
        match &self.scp {
            Some(scp) => scp.split_whitespace().collect(),
            None => self.roles.iter().map(String::as_str).collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mailconnect_core::encoding::base64url;

    /// An unsigned JWT carrying `payload`, which is all `Claims::read` looks at.
    pub(crate) fn jwt(payload: &str) -> String {
        format!("{}.{}.c2ln", base64url(br#"{"alg":"RS256","typ":"JWT"}"#), base64url(payload.as_bytes()))
    }

    #[test]
    fn reads_an_entra_app_only_token() {
        let c = Claims::read(&jwt(
            r#"{"aud":"https://outlook.office365.com","roles":["IMAP.AccessAsApp","SMTP.SendAsApp"],"tid":"t","exp":1700003600,"iat":1700000000,"azp":"app","oid":"sp"}"#,
        ))
        .unwrap();
        assert!(c.is_app_only());
        assert_eq!(c.permissions(), ["IMAP.AccessAsApp", "SMTP.SendAsApp"]);
        assert_eq!(
            (c.aud.as_str(), c.exp, c.azp.as_deref(), c.oid.as_deref(), c.user()),
            ("https://outlook.office365.com", Some(1700003600), Some("app"), Some("sp"), None)
        );
    }

    #[test]
    fn reads_a_v1_delegated_token_with_appid_and_upn() {
        let c = Claims::read(&jwt(
            r#"{"aud":"00000002-0000-0ff1-ce00-000000000000","scp":"IMAP.AccessAsUser.All SMTP.Send","appid":"app","upn":"ada@contoso.com","exp":1}"#,
        ))
        .unwrap();
        assert!(!c.is_app_only());
        assert_eq!(c.permissions(), ["IMAP.AccessAsUser.All", "SMTP.Send"]);
        assert_eq!((c.azp.as_deref(), c.user()), (Some("app"), Some("ada@contoso.com")));
    }

    #[test]
    fn opaque_tokens_and_damaged_payloads_are_told_apart() {
        assert_eq!(Claims::read("EwBwA8l6BAAU"), Err(ClaimsError::NotJwt));
        assert_eq!(Claims::read("a.b.c.d"), Err(ClaimsError::NotJwt));
        assert_eq!(Claims::read("a.!!.c"), Err(ClaimsError::BadPayload));
        assert_eq!(Claims::read(&jwt(r#"{"exp":"soon"}"#)), Err(ClaimsError::BadPayload));
    }
}
