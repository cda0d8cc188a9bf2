//! What `app-token` and `user-token` print: the same four forms of either answer.

use crate::edge_client::Failure;
use mailconnect_core::contract::{AppTokenResponse, UserTokenResponse};
use mailconnect_core::AccessToken;
use serde::Serialize;

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

/// An edge answer holding a token and, when the edge knew the mailbox, its SASL strings.
pub trait TokenAnswer: Serialize {
    /// The bearer token.
    fn access_token(&self) -> &AccessToken;
    /// The XOAUTH2 initial response and its POP3 form.
    fn sasl(&self) -> (Option<&str>, Option<&str>);
}

impl TokenAnswer for AppTokenResponse {
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn sasl(&self) -> (Option<&str>, Option<&str>) {
        (self.xoauth2.as_deref(), self.xoauth2_pop3.as_deref())
    }
}

impl TokenAnswer for UserTokenResponse {
    fn access_token(&self) -> &AccessToken {
        &self.token.access_token
    }

    fn sasl(&self) -> (Option<&str>, Option<&str>) {
        (self.xoauth2.as_deref(), self.xoauth2_pop3.as_deref())
    }
}

/// The text to print.
pub fn render(output: Output, answer: &impl TokenAnswer) -> Result<String, Failure> {
    let missing = || Failure {
        message: "the edge sent no XOAUTH2 string: it knows no mailbox for this token (give one: app-token --user, user-token --mailbox)".into(),
        retryable: false,
    };
    let (xoauth2, pop3) = answer.sasl();
    Ok(match output {
        Output::Json => serde_json::to_string_pretty(answer).expect("unreachable: plain struct"),
        Output::Token => answer.access_token().expose().to_owned(),
        Output::Xoauth2 => xoauth2.ok_or_else(missing)?.to_owned(),
        Output::Pop3 => pop3.ok_or_else(missing)?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailconnect_core::contract::TokenResponse;

    fn app_token() -> AppTokenResponse {
        AppTokenResponse {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            expires_in: 3599,
            expires_at: 1,
            scope: "https://outlook.office365.com/.default".into(),
            xoauth2: Some("x".into()),
            xoauth2_pop3: Some("AUTH XOAUTH2\r\nx".into()),
        }
    }

    #[test]
    fn renders_each_output_form() {
        let token = app_token();
        assert_eq!(render(Output::Xoauth2, &token).unwrap(), "x");
        assert_eq!(render(Output::Pop3, &token).unwrap(), "AUTH XOAUTH2\r\nx");
        assert_eq!(render(Output::Token, &token).unwrap(), "at");
        assert!(render(Output::Json, &token).unwrap().contains("\"expires_in\": 3599"));
        let bare = AppTokenResponse { xoauth2: None, ..token };
        assert!(!render(Output::Xoauth2, &bare).unwrap_err().retryable);
    }

    #[test]
    fn a_users_token_prints_the_same_forms_and_its_json_is_the_edges_flat_answer() {
        let app = app_token();
        let user = UserTokenResponse {
            token: TokenResponse {
                access_token: AccessToken::new("ut"),
                token_type: "Bearer".into(),
                expires_in: 3599,
                expires_at: 1,
                scope: "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
                account: None,
            },
            xoauth2: app.xoauth2,
            xoauth2_pop3: None,
        };
        assert_eq!(render(Output::Token, &user).unwrap(), "ut");
        assert_eq!(render(Output::Xoauth2, &user).unwrap(), "x");
        assert!(render(Output::Pop3, &user).unwrap_err().message.contains("--mailbox"));
        let json: serde_json::Value = serde_json::from_str(&render(Output::Json, &user).unwrap()).unwrap();
        assert_eq!((json["access_token"].as_str(), json["expires_at"].as_u64()), (Some("ut"), Some(1)));
    }
}
