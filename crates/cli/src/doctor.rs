//! `doctor`: for an operator whose mail server still refuses the token. It gets a token (from the
//! edge, or the one a relay holds, on standard input), reads its claims, logs in to each server
//! given, and prints what it found with the fix for each problem. The token itself is never
//! printed.

use crate::claims::Claims;
use crate::diagnosis::{diagnose, Facts, Finding, Level, Login};
use crate::edge_client::Failure;
use crate::mail_login::{self, Protocol, Server, Tls};
use crate::{app_token, user_token};
use mailconnect_core::contract::AccountId;
use mailconnect_core::{xoauth2, AccessToken};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the token comes from.
pub enum Source {
    /// The edge: the connector's app token, or with an account that user's delegated token (the
    /// back end's route). The edge URL (no trailing slash), the connector, the API key.
    Edge { edge: String, connector: String, account: Option<AccountId>, api_key: String },
    /// A token read from standard input.
    Token(AccessToken),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Edge { edge, connector, account, .. } => {
                f.debug_struct("Edge").field("edge", edge).field("connector", connector).field("account", account).field("api_key", &"[redacted]").finish()
            }
            Source::Token(token) => f.debug_tuple("Token").field(token).finish(),
        }
    }
}

/// A `doctor` run.
#[derive(Debug)]
pub struct Doctor {
    /// The token's source.
    pub source: Source,
    /// The mailbox to log in to.
    pub user: String,
    /// The servers, each with its idle timeout in seconds.
    pub servers: Vec<(Server, u64)>,
    /// The connector's `token_expiry_margin`, in seconds.
    pub margin: u64,
    /// The certificates TLS trusts.
    pub tls: Tls,
}

/// The idle timeout the protocol's RFC sets as the least a server may use: IMAP's autologout
/// (RFC 9051 §5.4), POP3's (RFC 1939 §3), an SMTP server's command timeout (RFC 5321 §4.5.3.2.7).
pub fn default_idle_timeout(protocol: Protocol) -> u64 {
    match protocol {
        Protocol::Imap => 1800,
        Protocol::Pop3 => 600,
        Protocol::Smtp => 300,
    }
}

/// Runs the checks, prints the report, and returns the exit status: 0 healthy (warnings
/// allowed), 1 a problem to fix, 75 something could not be checked now.
pub fn run(doctor: Doctor) -> u8 {
    // The token stays in this function: it goes to the servers, never to the output.
    let (token, edge_expires_in) = match &doctor.source {
        Source::Token(token) => {
            println!("mailconnect doctor: {} with the token from standard input", doctor.user);
            (token.expose().to_owned(), None)
        }
        Source::Edge { edge, connector, account, api_key } => {
            let answer = match account {
                None => {
                    println!("mailconnect doctor: {} with a token of connector {connector} from {edge}", doctor.user);
                    app_token::request(edge, connector, None, api_key).map(|a| (a.access_token, a.expires_in))
                }
                Some(account) => {
                    println!("mailconnect doctor: {} with account {}'s token of connector {connector} from {edge}", doctor.user, account.as_str());
                    user_token::request(edge, account, connector, None, api_key).map(|a| (a.token.access_token, a.token.expires_in))
                }
            };
            match answer {
                Ok((token, expires_in)) => (token.expose().to_owned(), Some(expires_in)),
                Err(Failure { message, retryable }) => {
                    let level = if retryable { Level::Unreachable } else { Level::Problem };
                    print_finding(&Finding { topic: "edge", level, text: message, fix: None });
                    return exit_status(&[level]);
                }
            }
        }
    };
    // Read before the logins, which may take a while, so the clock comparison is with the edge's answer.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let logins: Vec<Login> = match xoauth2(&doctor.user, &token) {
        Ok(sasl) => doctor
            .servers
            .iter()
            .map(|(server, idle)| Login { server: server.clone(), idle_timeout: *idle, outcome: mail_login::login(server, &sasl, &doctor.tls) })
            .collect(),
        Err(_) => {
            print_finding(&Finding {
                topic: "user",
                level: Level::Problem,
                text: "the user or the token is empty or holds control characters".into(),
                fix: None,
            });
            return 1;
        }
    };
    let facts = Facts { now, user: &doctor.user, claims: Claims::read(&token), edge_expires_in, margin: doctor.margin, logins: &logins };
    let findings = diagnose(&facts);
    for f in &findings {
        print_finding(f);
    }
    let levels: Vec<Level> = findings.iter().map(|f| f.level).collect();
    let count = |level| levels.iter().filter(|&&l| l == level).count();
    let (problems, warnings, unchecked) = (count(Level::Problem), count(Level::Warning), count(Level::Unreachable));
    println!(
        "result: {}",
        match (problems, unchecked) {
            (0, 0) => format!("healthy ({warnings} warning{})", if warnings == 1 { "" } else { "s" }),
            (0, n) => format!("{n} check{} could not be made now; try again", if n == 1 { "" } else { "s" }),
            (n, _) => format!("{n} problem{} to fix", if n == 1 { "" } else { "s" }),
        }
    );
    exit_status(&levels)
}

fn exit_status(levels: &[Level]) -> u8 {
    match levels.iter().max() {
        Some(Level::Problem) => 1,
        Some(Level::Unreachable) => crate::EX_TEMPFAIL,
        _ => 0,
    }
}

fn print_finding(f: &Finding) {
    let level = match f.level {
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Unreachable => "retry",
        Level::Problem => "problem",
    };
    println!("{:<7} {level:<8} {}", f.topic, f.text);
    if let Some(fix) = &f.fix {
        println!("{:<16} fix: {fix}", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_api_key_and_the_token() {
        let edge = Source::Edge { edge: "https://m.example/oauth".into(), connector: "relay".into(), account: None, api_key: "k3y".into() };
        assert_eq!(format!("{edge:?}"), r#"Edge { edge: "https://m.example/oauth", connector: "relay", account: None, api_key: "[redacted]" }"#);
        assert_eq!(format!("{:?}", Source::Token(AccessToken::new("t0ken"))), "Token(AccessToken([redacted]))");
    }
}
