//! `mailconnect`: the command for the hosts and apps around a webmail.
//!
//! A mail server or relay gets an app-only Office 365 token (and its XOAUTH2 string) from the
//! mailconnect edge, so that the mail host never holds a client secret:
//! ```text
//! MAILCONNECT_API_KEY=… mailconnect app-token --edge https://mail.example.com/oauth --connector smtp-relay --user relay@contoso.com
//! ```
//! The API key is read from the environment only: a command line is visible to every user of
//! the host (`ps`), an environment is not.
//!
//! A CRM, a ticketing tool or a notification script links to one message in the webmail:
//! ```text
//! mailconnect message-link --base https://mail.example.com/ --folder INBOX --uidvalidity 1700000000 --uid 42
//! ```
#![warn(missing_docs)]

use mailconnect_core::contract::{AppTokenRequest, AppTokenResponse, ErrorBody};
use mailconnect_core::{Endpoint, MessageLink};
use std::process::ExitCode;

const USAGE: &str = "usage: mailconnect app-token --edge URL --connector ID [--user ADDRESS] [--json | --pop3 | --token]
       mailconnect message-link --base URL (--folder NAME --uidvalidity N --uid N | --message-id ID)

app-token prints the XOAUTH2 initial response for IMAP/SMTP (needs --user), or with
  --pop3   the POP3 two-line form (AUTH XOAUTH2, then the response)
  --token  the bare access token
  --json   the edge's whole answer
The API key comes from the environment variable MAILCONNECT_API_KEY.

message-link prints the webmail URL that opens one message: by IMAP folder, UIDVALIDITY and UID,
or by Message-ID (angle brackets optional). --base is the webmail's address for message links.

Exit status: 0 ok, 1 permanent error, 2 usage, 75 temporary error (retry later).";

/// The environment variable holding the edge API key.
const API_KEY_VAR: &str = "MAILCONNECT_API_KEY";
/// sysexits' EX_TEMPFAIL: mail servers read it as "try again later".
const EX_TEMPFAIL: u8 = 75;

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Xoauth2,
    Pop3,
    Token,
    Json,
}

/// A parsed `app-token` command line.
#[derive(Debug, PartialEq, Eq)]
struct AppToken {
    edge: String,
    connector: String,
    user: Option<String>,
    output: Output,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    AppToken(AppToken),
    /// The URL to print.
    MessageLink(String),
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args.split_first() {
        Some((command, rest)) if command == "app-token" => parse_app_token(rest).map(Command::AppToken),
        Some((command, rest)) if command == "message-link" => parse_message_link(rest).map(Command::MessageLink),
        Some((command, _)) => Err(format!("unknown command {command:?}")),
        None => Err("missing command".into()),
    }
}

/// The link's URL, built by core (`MessageLink::to_url`), the format the browser module parses.
fn parse_message_link(rest: &[String]) -> Result<String, String> {
    let (mut base, mut folder, mut uidvalidity, mut uid, mut message_id) = (None, None, None, None, None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--base" => &mut base,
            "--folder" => &mut folder,
            "--uidvalidity" => &mut uidvalidity,
            "--uid" => &mut uid,
            "--message-id" => &mut message_id,
            other => return Err(format!("unknown option {other:?}")),
        };
        *slot = Some(it.next().ok_or_else(|| format!("{flag} needs a value"))?);
    }
    let base = base.ok_or("--base is required")?;
    let base = Endpoint::parse(base).map_err(|_| format!("--base {base:?} is not an https:// URL without query or fragment"))?;
    let number = |flag: &str, value: &str| value.parse::<u32>().map_err(|_| format!("{flag} must be a number from 1 to 4294967295, not {value:?}"));
    let link = match (folder, uidvalidity, uid, message_id) {
        (Some(folder), Some(validity), Some(uid), None) => MessageLink::uid(folder, number("--uidvalidity", validity)?, number("--uid", uid)?)
            .map_err(|_| "--folder must be a mailbox name without control characters, and --uidvalidity and --uid must not be 0".to_owned())?,
        (None, None, None, Some(id)) => {
            MessageLink::message_id(id).map_err(|_| format!("--message-id {id:?} is not a Message-ID (local@domain, printable ASCII)"))?
        }
        _ => return Err("give either --folder, --uidvalidity and --uid, or --message-id".into()),
    };
    Ok(link.to_url(&base))
}

fn parse_app_token(rest: &[String]) -> Result<AppToken, String> {
    let (mut edge, mut connector, mut user, mut output) = (None, None, None, None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        let (slot, new_output) = match flag.as_str() {
            "--edge" => (Some(&mut edge), None),
            "--connector" => (Some(&mut connector), None),
            "--user" => (Some(&mut user), None),
            "--json" => (None, Some(Output::Json)),
            "--pop3" => (None, Some(Output::Pop3)),
            "--token" => (None, Some(Output::Token)),
            "--api-key" => return Err(format!("never pass the API key on the command line: set {API_KEY_VAR}")),
            other => return Err(format!("unknown option {other:?}")),
        };
        if let Some(slot) = slot {
            *slot = Some(value()?);
        }
        if let Some(o) = new_output {
            if output.replace(o).is_some() {
                return Err("choose one of --json, --pop3, --token".into());
            }
        }
    }
    let output = output.unwrap_or(Output::Xoauth2);
    if matches!(output, Output::Xoauth2 | Output::Pop3) && user.is_none() {
        return Err("--user is needed for an XOAUTH2 string".into());
    }
    let edge = edge.ok_or("--edge is required")?.trim_end_matches('/').to_owned();
    let connector = connector.ok_or("--connector is required")?;
    Ok(AppToken { edge, connector, user, output })
}

/// A failure, and whether a mail server should retry.
#[derive(Debug)]
struct Failure {
    message: String,
    retryable: bool,
}

fn request(cmd: &AppToken, api_key: &str) -> Result<AppTokenResponse, Failure> {
    let url = format!("{}/connectors/{}/app-token", cmd.edge, cmd.connector);
    let body = serde_json::to_string(&AppTokenRequest { user: cmd.user.clone() }).expect("unreachable: plain struct");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(std::time::Duration::from_secs(30))).build().into();
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

fn render(output: Output, token: &AppTokenResponse) -> Result<String, Failure> {
    let missing = || Failure { message: "the edge sent no XOAUTH2 string".into(), retryable: false };
    Ok(match output {
        Output::Json => serde_json::to_string_pretty(token).expect("unreachable: plain struct"),
        Output::Token => token.access_token.expose().to_owned(),
        Output::Xoauth2 => token.xoauth2.clone().ok_or_else(missing)?,
        Output::Pop3 => token.xoauth2_pop3.clone().ok_or_else(missing)?,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse_args(&args) {
        Ok(Command::AppToken(cmd)) => cmd,
        Ok(Command::MessageLink(url)) => {
            println!("{url}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mailconnect: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(api_key) = std::env::var(API_KEY_VAR).ok().filter(|k| !k.is_empty()) else {
        eprintln!("mailconnect: set {API_KEY_VAR} to the edge API key");
        return ExitCode::from(2);
    };
    match request(&cmd, &api_key).and_then(|t| render(cmd.output, &t)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("mailconnect: {}", f.message);
            ExitCode::from(if f.retryable { EX_TEMPFAIL } else { 1 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailconnect_core::AccessToken;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_readme_command_line() {
        let cmd = parse_args(&args("app-token --edge https://mail.example.com/oauth/ --connector smtp-relay --user relay@contoso.com")).unwrap();
        assert_eq!(
            cmd,
            Command::AppToken(AppToken {
                edge: "https://mail.example.com/oauth".into(),
                connector: "smtp-relay".into(),
                user: Some("relay@contoso.com".into()),
                output: Output::Xoauth2
            })
        );
    }

    #[test]
    fn refuses_an_api_key_on_the_command_line() {
        let err = parse_args(&args("app-token --edge e --connector c --api-key k --json")).unwrap_err();
        assert!(err.contains(API_KEY_VAR), "{err}");
    }

    #[test]
    fn xoauth2_output_needs_a_user_but_token_and_json_do_not() {
        assert!(parse_args(&args("app-token --edge e --connector c")).is_err());
        assert!(matches!(parse_args(&args("app-token --edge e --connector c --token")), Ok(Command::AppToken(AppToken { output: Output::Token, .. }))));
        assert!(parse_args(&args("app-token --edge e --connector c --json --token")).is_err());
        assert!(parse_args(&args("app-token --connector c --json")).is_err());
        assert!(parse_args(&args("token --edge e --connector c --json")).is_err());
    }

    #[test]
    fn message_link_prints_the_webmail_url_of_a_uid_or_a_message_id() {
        let uid = parse_args(&args("message-link --base https://mail.example.com/webmail/ --folder Archive/2026 --uidvalidity 1700000000 --uid 42"));
        assert_eq!(uid, Ok(Command::MessageLink("https://mail.example.com/webmail/?folder=Archive%2F2026&uidvalidity=1700000000&uid=42".into())));
        let mid = parse_args(&args("message-link --message-id <CAF1+x@mail.example.com> --base https://mail.example.com/"));
        assert_eq!(mid, Ok(Command::MessageLink("https://mail.example.com/?mid=CAF1%2Bx%40mail.example.com".into())));
    }

    #[test]
    fn message_link_refuses_mixed_forms_bad_numbers_and_a_base_that_is_not_https() {
        for bad in [
            "message-link --base https://m.example/ --folder INBOX --uidvalidity 1 --uid 2 --message-id a@b",
            "message-link --base https://m.example/ --folder INBOX --uid 2",
            "message-link --base https://m.example/ --folder INBOX --uidvalidity 1 --uid 0",
            "message-link --base https://m.example/ --folder INBOX --uidvalidity -1 --uid 2",
            "message-link --base https://m.example/ --message-id nobody",
            "message-link --base http://m.example/ --message-id a@b",
            "message-link --base https://m.example/?x=1 --message-id a@b",
            "message-link --message-id a@b",
            "message-link --base https://m.example/ --message-id",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad}");
        }
    }

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
        let cmd = AppToken { edge: "http://127.0.0.1:9".into(), connector: "c".into(), user: None, output: Output::Json };
        let f = request(&cmd, "k").unwrap_err();
        assert!(f.retryable, "{}", f.message);
    }
}
