//! `app-token`: an app-only token, or its XOAUTH2 strings, from the edge's
//! `POST /connectors/{id}/app-token`, for a mail host that holds no client secret.

use mailconnect_core::contract::{AppTokenRequest, AppTokenResponse, ErrorBody};
use std::time::Duration;

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The XOAUTH2 initial response for IMAP and SMTP.
    Xoauth2,
    /// The POP3 two-line form.
    Pop3,
    /// The bare access token.
    Token,
    /// The edge's whole answer.
    Json,
}

/// A failure, and whether a mail server should retry.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, for the operator.
    pub message: String,
    /// Whether the same call may succeed later (exit status 75).
    pub retryable: bool,
}

/// Asks the edge at `edge` (without a trailing slash) for `connector`'s app token.
pub fn request(edge: &str, connector: &str, user: Option<&str>, api_key: &str) -> Result<AppTokenResponse, Failure> {
    let url = format!("{edge}/connectors/{connector}/app-token");
    let body = serde_json::to_string(&AppTokenRequest { user: user.map(str::to_owned) }).expect("unreachable: plain struct");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
    let mut response = agent
        .post(&url)
        .header("authorization", &format!("Bearer {api_key}"))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .map_err(|e| Failure { message: format!("cannot reach the edge at {url}: {e}"), retryable: true })?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(|e| Failure { message: format!("reading the edge's answer failed: {e}"), retryable: true })?;
    if status == 200 {
        return serde_json::from_str(&text).map_err(|e| Failure { message: format!("the edge's answer is not an app token: {e}"), retryable: false });
    }
    Err(match serde_json::from_str::<ErrorBody>(&text) {
        Ok(err) => Failure { message: format!("{} ({}; action: {})", err.error_description, err.error, err.action.as_str()), retryable: err.retryable },
        Err(_) => Failure { message: format!("the edge answered HTTP {status}"), retryable: status >= 500 || status == 429 },
    })
}

/// The text `app-token` prints.
pub fn render(output: Output, token: &AppTokenResponse) -> Result<String, Failure> {
    let missing = || Failure { message: "the edge sent no XOAUTH2 string".into(), retryable: false };
    Ok(match output {
        Output::Json => serde_json::to_string_pretty(token).expect("unreachable: plain struct"),
        Output::Token => token.access_token.expose().to_owned(),
        Output::Xoauth2 => token.xoauth2.clone().ok_or_else(missing)?,
        Output::Pop3 => token.xoauth2_pop3.clone().ok_or_else(missing)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailconnect_core::AccessToken;

    #[test]
    fn renders_each_output_form() {
        let token = AppTokenResponse {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            expires_in: 3599,
            expires_at: 1,
            scope: "https://outlook.office365.com/.default".into(),
            xoauth2: Some("x".into()),
            xoauth2_pop3: Some("AUTH XOAUTH2\r\nx".into()),
        };
        assert_eq!(render(Output::Xoauth2, &token).unwrap(), "x");
        assert_eq!(render(Output::Pop3, &token).unwrap(), "AUTH XOAUTH2\r\nx");
        assert_eq!(render(Output::Token, &token).unwrap(), "at");
        assert!(render(Output::Json, &token).unwrap().contains("\"expires_in\": 3599"));
        let bare = AppTokenResponse { xoauth2: None, ..token };
        assert!(!render(Output::Xoauth2, &bare).unwrap_err().retryable);
    }

    #[test]
    fn unreachable_edge_is_a_temporary_failure() {
        let f = request("http://127.0.0.1:9", "c", None, "k").unwrap_err();
        assert!(f.retryable, "{}", f.message);
    }
}
