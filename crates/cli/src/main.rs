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
//! When the mail server still refuses the token, `doctor` says why and what to change:
//! ```text
//! MAILCONNECT_API_KEY=… mailconnect doctor --edge https://mail.example.com/oauth --connector smtp-relay --user relay@contoso.com --imap outlook.office365.com:993 --smtp smtp.office365.com:587
//! ```
//!
//! The webmail's back end acts for one of its users (the user's delegated token, refreshed at the
//! edge; the XOAUTH2 string for the user's mailbox), with its own API key:
//! ```text
//! MAILCONNECT_API_KEY=… mailconnect user-token --edge https://mail.example.com/oauth --account ada@contoso.com --connector outlook-mail
//! ```
//!
//! A CRM, a ticketing tool or a notification script links to one message in the webmail:
//! ```text
//! mailconnect message-link --base https://mail.example.com/ --folder INBOX --uidvalidity 1700000000 --uid 42
//! ```
#![warn(missing_docs)]

mod app_token;
mod claims;
mod diagnosis;
mod doctor;
mod edge_client;
mod mail_login;
mod output;
mod user_token;

use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use edge_client::Failure;
use mail_login::{Protocol, Security, Server, Tls};
use mailconnect_core::contract::AccountId;
use mailconnect_core::{Endpoint, MessageLink};
use output::Output;
use std::io::BufRead;
use std::process::ExitCode;

/// The environment variable holding the edge API key.
const API_KEY_VAR: &str = "MAILCONNECT_API_KEY";
/// sysexits' EX_TEMPFAIL: mail servers read it as "try again later".
const EX_TEMPFAIL: u8 = 75;
/// Usage errors, as clap itself exits on them.
const EX_USAGE: u8 = 2;

const EXIT_STATUS: &str = "Exit status: 0 ok, 1 permanent error, 2 usage, 75 temporary error (retry later).
The API key comes from the environment variable MAILCONNECT_API_KEY: a connector's key for
app-token and doctor, the webmail back end's (BACKEND_API_KEYS) for user-token, user-disconnect
and doctor --account.";

/// Tokens for mail hosts from the mailconnect edge, their diagnosis, and links into the webmail.
#[derive(Debug, Parser)]
#[command(name = "mailconnect", version, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an app-only token's XOAUTH2 string for IMAP/SMTP (or, with an option, the POP3 form,
    /// the bare token or the edge's whole answer).
    AppToken(AppTokenArgs),
    /// Print a webmail user's delegated token as app-token does (the XOAUTH2 string for the
    /// user's mailbox by default), for the webmail's back end acting while the user is away.
    UserToken(UserTokenArgs),
    /// Disconnect a webmail user from a connector on every device (the grant revoked where the
    /// provider can, and forgotten).
    UserDisconnect(UserArgs),
    /// Get a token, read its claims, log in to the mail servers given, and say how to fix each
    /// problem found. Never prints the token.
    Doctor(DoctorArgs),
    /// Print the webmail URL that opens one message, by IMAP folder, UIDVALIDITY and UID, or by
    /// Message-ID.
    MessageLink(MessageLinkArgs),
}

/// Which form of the token to print (the XOAUTH2 string when none is given).
#[derive(Debug, Args)]
#[group(multiple = false)]
struct OutputArgs {
    /// Print the edge's whole answer, with expires_at.
    #[arg(long)]
    json: bool,
    /// Print the POP3 two-line form: AUTH XOAUTH2, then the response.
    #[arg(long)]
    pop3: bool,
    /// Print the bare access token.
    #[arg(long)]
    token: bool,
}

/// The edge and its API key, which only the environment may hold.
#[derive(Debug, Args)]
struct EdgeArgs {
    /// The edge's base URL, e.g. https://mail.example.com/oauth (http:// on loopback only).
    #[arg(long, value_name = "URL", value_parser = edge_url)]
    edge: String,
    /// Refused: the API key belongs in MAILCONNECT_API_KEY, out of sight of `ps`.
    #[arg(long, hide = true, value_name = "KEY")]
    api_key: Option<String>,
}

#[derive(Debug, Args)]
struct AppTokenArgs {
    #[command(flatten)]
    edge: EdgeArgs,
    /// The connector's id in the edge's CONNECTORS.
    #[arg(long, value_name = "ID")]
    connector: String,
    /// The mailbox the XOAUTH2 string logs in to (needed unless --json or --token).
    #[arg(long, value_name = "ADDRESS", required_unless_present_any = ["json", "token"])]
    user: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// One webmail user's connection, at the edge.
#[derive(Debug, Args)]
struct UserArgs {
    #[command(flatten)]
    edge: EdgeArgs,
    /// The webmail's account id of the user (the `sub` of the webmail's tickets).
    #[arg(long, value_name = "ID", value_parser = account_id)]
    account: AccountId,
    /// The connector's id in the edge's CONNECTORS (one with backend_access = true).
    #[arg(long, value_name = "ID")]
    connector: String,
}

#[derive(Debug, Args)]
struct UserTokenArgs {
    #[command(flatten)]
    user: UserArgs,
    /// The mailbox the XOAUTH2 strings log in to [default: the connected account's sign-in name].
    #[arg(long, value_name = "ADDRESS")]
    mailbox: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// How `doctor` connects; `auto` follows the port (993, 995, 465: TLS; others: STARTTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SecurityArg {
    /// By the port: 993, 995 and 465 TLS, others STARTTLS.
    Auto,
    /// TLS from the first byte.
    Tls,
    /// Plain, then STARTTLS (STLS in POP3).
    Starttls,
    /// No TLS, to loopback addresses only.
    Plain,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").args(["edge", "token_stdin"]).required(true)))]
struct DoctorArgs {
    /// The edge's base URL, e.g. https://mail.example.com/oauth (http:// on loopback only).
    #[arg(long, value_name = "URL", requires = "connector", value_parser = edge_url)]
    edge: Option<String>,
    /// The connector's id in the edge's CONNECTORS.
    #[arg(long, value_name = "ID", requires = "edge")]
    connector: Option<String>,
    /// Diagnose this webmail user's delegated token (user-token's) instead of the app token.
    #[arg(long, value_name = "ID", requires = "edge", value_parser = account_id)]
    account: Option<AccountId>,
    /// Diagnose the token on standard input (the one a relay holds) instead of the edge's.
    #[arg(long)]
    token_stdin: bool,
    /// The mailbox to log in to.
    #[arg(long, value_name = "ADDRESS")]
    user: String,
    /// An IMAP server to log in to, e.g. outlook.office365.com:993.
    #[arg(long, value_name = "HOST:PORT")]
    imap: Option<String>,
    /// A POP3 server to log in to, e.g. outlook.office365.com:995.
    #[arg(long, value_name = "HOST:PORT")]
    pop3: Option<String>,
    /// An SMTP submission server to log in to, e.g. smtp.office365.com:587.
    #[arg(long, value_name = "HOST:PORT")]
    smtp: Option<String>,
    /// TLS, STARTTLS, or plain text (loopback only).
    #[arg(long, value_enum, default_value_t = SecurityArg::Auto)]
    security: SecurityArg,
    /// The connector's token_expiry_margin, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    margin: u64,
    /// The servers' idle timeout, in seconds [default: the RFC minimum: IMAP 1800, POP3 600, SMTP 300].
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u64>,
    /// Also trust the CA certificates of this PEM file (a server with a private CA's certificate).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("by_uid").args(["folder", "uidvalidity", "uid"]).multiple(true).conflicts_with("message_id")))]
#[command(group(ArgGroup::new("form").args(["folder", "message_id"]).required(true)))]
struct MessageLinkArgs {
    /// The webmail's address for message links (https://, no query or fragment).
    #[arg(long, value_name = "URL")]
    base: String,
    /// The IMAP folder (mailbox name).
    #[arg(long, value_name = "NAME", requires_all = ["uidvalidity", "uid"])]
    folder: Option<String>,
    /// The folder's UIDVALIDITY.
    #[arg(long, value_name = "N", requires = "folder")]
    uidvalidity: Option<String>,
    /// The message's UID.
    #[arg(long, value_name = "N", requires = "folder")]
    uid: Option<String>,
    /// The Message-ID, angle brackets optional.
    #[arg(long, value_name = "ID")]
    message_id: Option<String>,
}

/// `--edge`, without its trailing slashes: the API key goes there, so only over TLS, or in clear
/// to a loopback address (the same rule as `--base`, core's [`Endpoint`]).
fn edge_url(url: &str) -> Result<String, String> {
    Endpoint::parse(url).map(|_| url.trim_end_matches('/').to_owned()).map_err(|_| {
        "not an https:// URL (http:// only to localhost, 127.0.0.1 or ::1) without query or fragment: the API key would travel in clear".to_owned()
    })
}

/// `--account`: core's [`AccountId`], the form the edge's `users` routes take.
fn account_id(id: &str) -> Result<AccountId, String> {
    AccountId::parse(id).ok_or_else(|| "an account id is 1 to 128 of A-Z a-z 0-9 . _ - @ +".to_owned())
}

/// The link's URL, built by core (`MessageLink::to_url`), the format the browser module parses.
fn message_link(args: &MessageLinkArgs) -> Result<String, String> {
    let base = Endpoint::parse(&args.base).map_err(|_| format!("--base {:?} is not an https:// URL without query or fragment", args.base))?;
    let number = |flag: &str, value: &str| value.parse::<u32>().map_err(|_| format!("{flag} must be a number from 1 to 4294967295, not {value:?}"));
    let link = match (&args.folder, &args.uidvalidity, &args.uid, &args.message_id) {
        (Some(folder), Some(validity), Some(uid), None) => MessageLink::uid(folder, number("--uidvalidity", validity)?, number("--uid", uid)?)
            .map_err(|_| "--folder must be a mailbox name without control characters, and --uidvalidity and --uid must not be 0".to_owned())?,
        (None, None, None, Some(id)) => {
            MessageLink::message_id(id).map_err(|_| format!("--message-id {id:?} is not a Message-ID (local@domain, printable ASCII)"))?
        }
        _ => return Err("give either --folder, --uidvalidity and --uid, or --message-id".into()),
    };
    Ok(link.to_url(&base))
}

impl OutputArgs {
    fn output(&self) -> Output {
        match (self.json, self.pop3, self.token) {
            (true, _, _) => Output::Json,
            (_, true, _) => Output::Pop3,
            (_, _, true) => Output::Token,
            _ => Output::Xoauth2,
        }
    }
}

impl DoctorArgs {
    fn servers(&self) -> Result<Vec<(Server, u64)>, String> {
        let security = match self.security {
            SecurityArg::Auto => None,
            SecurityArg::Tls => Some(Security::Tls),
            SecurityArg::Starttls => Some(Security::StartTls),
            SecurityArg::Plain => Some(Security::Plain),
        };
        [(Protocol::Imap, &self.imap), (Protocol::Pop3, &self.pop3), (Protocol::Smtp, &self.smtp)]
            .into_iter()
            .filter_map(|(protocol, address)| address.as_deref().map(|a| (protocol, a)))
            .map(|(protocol, address)| {
                let server = Server::parse(protocol, address, security).map_err(|e| format!("--{}: {e}", protocol.name()))?;
                Ok((server, self.idle_timeout.unwrap_or_else(|| doctor::default_idle_timeout(protocol))))
            })
            .collect()
    }
}

/// The edge API key from the environment, or why not.
fn api_key() -> Result<String, String> {
    std::env::var(API_KEY_VAR).ok().filter(|k| !k.is_empty()).ok_or_else(|| format!("set {API_KEY_VAR} to the edge API key"))
}

/// A usage error: the message, clap's usage line, status 2.
fn usage_error(message: &str) -> ExitCode {
    let error = Cli::command().error(clap::error::ErrorKind::ValueValidation, message);
    let _ = error.print();
    ExitCode::from(EX_USAGE)
}

impl EdgeArgs {
    /// Calls the edge with the API key from the environment, prints what `call` made of the
    /// answer, and returns the exit status: 2 for a key on the command line or none at all.
    fn run(&self, call: impl FnOnce(&str, &str) -> Result<String, Failure>) -> ExitCode {
        if self.api_key.is_some() {
            return usage_error(&format!("never pass the API key on the command line: set {API_KEY_VAR}"));
        }
        let api_key = match api_key() {
            Ok(key) => key,
            Err(e) => return usage_error(&e),
        };
        match call(&self.edge, &api_key) {
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
}

fn app_token(args: &AppTokenArgs) -> ExitCode {
    args.edge.run(|edge, key| output::render(args.output.output(), &app_token::request(edge, &args.connector, args.user.as_deref(), key)?))
}

fn user_token(args: &UserTokenArgs) -> ExitCode {
    let UserArgs { edge, account, connector } = &args.user;
    edge.run(|edge, key| output::render(args.output.output(), &user_token::request(edge, account, connector, args.mailbox.as_deref(), key)?))
}

fn user_disconnect(args: &UserArgs) -> ExitCode {
    args.edge.run(|edge, key| user_token::disconnect(edge, &args.account, &args.connector, key).map(|d| d.status))
}

fn doctor(args: &DoctorArgs) -> ExitCode {
    let servers = match args.servers() {
        Ok(servers) => servers,
        Err(e) => return usage_error(&e),
    };
    let tls = match Tls::new(args.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(e) => return usage_error(&format!("--ca-file {e}")),
    };
    let source = match (&args.edge, &args.connector) {
        (Some(edge), Some(connector)) => match api_key() {
            Ok(api_key) => doctor::Source::Edge { edge: edge.clone(), connector: connector.clone(), account: args.account.clone(), api_key },
            Err(e) => return usage_error(&e),
        },
        _ => {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() || line.trim().is_empty() {
                return usage_error("--token-stdin: no token on standard input");
            }
            doctor::Source::Token(mailconnect_core::AccessToken::new(line.trim()))
        }
    };
    ExitCode::from(doctor::run(doctor::Doctor { source, user: args.user.clone(), servers, margin: args.margin, tls }))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::AppToken(args) => app_token(&args),
        Command::UserToken(args) => user_token(&args),
        Command::UserDisconnect(args) => user_disconnect(&args),
        Command::Doctor(args) => doctor(&args),
        Command::MessageLink(args) => match message_link(&args) {
            Ok(url) => {
                println!("{url}");
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("mailconnect").chain(s.split_whitespace())).map(|cli| cli.command)
    }

    fn link(s: &str) -> Result<String, String> {
        match parse(s) {
            Ok(Command::MessageLink(args)) => message_link(&args),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn parses_the_readme_command_line() {
        let Ok(Command::AppToken(args)) = parse("app-token --edge https://mail.example.com/oauth/ --connector smtp-relay --user relay@contoso.com") else {
            panic!()
        };
        assert_eq!(
            (args.edge.edge.as_str(), args.connector.as_str(), args.user.as_deref(), args.output.output()),
            ("https://mail.example.com/oauth", "smtp-relay", Some("relay@contoso.com"), Output::Xoauth2)
        );
    }

    #[test]
    fn refuses_an_api_key_on_the_command_line() {
        let Ok(Command::AppToken(args)) = parse("app-token --edge https://e.example --connector c --api-key k --json") else { panic!() };
        assert!(args.edge.api_key.is_some());
        assert_eq!(app_token(&args), ExitCode::from(EX_USAGE));
        for refused in [
            "user-token --edge https://e.example --account ada --connector c --api-key k",
            "user-disconnect --edge https://e.example --account ada --connector c --api-key k",
        ] {
            let exit = match parse(refused) {
                Ok(Command::UserToken(args)) => user_token(&args),
                Ok(Command::UserDisconnect(args)) => user_disconnect(&args),
                other => panic!("{other:?}"),
            };
            assert_eq!(exit, ExitCode::from(EX_USAGE), "{refused}");
        }
    }

    #[test]
    fn user_token_takes_an_account_id_a_connector_and_an_optional_mailbox() {
        let Ok(Command::UserToken(args)) = parse("user-token --edge https://mail.example.com/oauth --account ada@contoso.com --connector outlook-mail") else {
            panic!()
        };
        assert_eq!(
            (args.user.edge.edge.as_str(), args.user.account.as_str(), args.user.connector.as_str(), args.mailbox.as_deref(), args.output.output()),
            ("https://mail.example.com/oauth", "ada@contoso.com", "outlook-mail", None, Output::Xoauth2)
        );
        let Ok(Command::UserToken(args)) = parse("user-token --edge https://m.example --account a --connector c --mailbox shared@contoso.com --pop3") else {
            panic!()
        };
        assert_eq!((args.mailbox.as_deref(), args.output.output()), (Some("shared@contoso.com"), Output::Pop3));
        assert!(matches!(parse("user-disconnect --edge https://m.example --account a.b+c_d-e --connector c"), Ok(Command::UserDisconnect(_))));
    }

    #[test]
    fn user_routes_refuse_an_account_id_that_is_not_one_and_a_missing_account() {
        let long = "a".repeat(AccountId::MAX_LEN + 1);
        for account in ["ada/../bob", "ada%40contoso", "ad a", "émile", long.as_str()] {
            for sub in ["user-token", "user-disconnect"] {
                let error = Cli::try_parse_from(["mailconnect", sub, "--edge", "https://m.example", "--connector", "c", "--account", account]).unwrap_err();
                assert!(error.to_string().contains("an account id is 1 to 128 of"), "{sub} {account}: {error}");
            }
        }
        assert!(parse("user-token --edge https://m.example --connector c").is_err());
        assert!(parse("user-token --edge https://m.example --account a --connector c --json --token").is_err());
        assert!(parse("user-disconnect --edge http://m.example --account a --connector c").is_err());
        assert!(parse("user-disconnect --edge https://m.example --account a --connector c --json").is_err());
    }

    #[test]
    fn xoauth2_output_needs_a_user_but_token_and_json_do_not() {
        assert!(parse("app-token --edge https://e.example --connector c").is_err());
        assert!(matches!(parse("app-token --edge https://e.example --connector c --token"), Ok(Command::AppToken(a)) if a.output.output() == Output::Token));
        assert!(
            matches!(parse("app-token --edge https://e.example --connector c --user u --pop3"), Ok(Command::AppToken(a)) if a.output.output() == Output::Pop3)
        );
        assert!(parse("app-token --edge https://e.example --connector c --json --token").is_err());
        assert!(parse("app-token --connector c --json").is_err());
        assert!(parse("token --edge e --connector c --json").is_err());
    }

    #[test]
    fn edge_must_be_https_or_http_to_loopback_for_both_subcommands() {
        for edge in ["https://mail.example.com/oauth", "http://127.0.0.1:8787/oauth", "http://localhost:8787", "http://[::1]:8787/oauth"] {
            assert!(parse(&format!("app-token --edge {edge} --connector c --token")).is_ok(), "{edge}");
            assert!(parse(&format!("doctor --edge {edge} --connector c --user u")).is_ok(), "{edge}");
        }
        for edge in [
            "http://mail.example.com/oauth",
            "http://10.0.0.5/oauth",
            "http://127.0.0.1.evil.example/",
            "ftp://mail.example.com",
            "mail.example.com/oauth",
            "https://m.example/?x=1",
        ] {
            let error = parse(&format!("app-token --edge {edge} --connector c --token")).unwrap_err().to_string();
            assert!(error.contains("https://"), "{edge}: {error}");
            assert!(parse(&format!("doctor --edge {edge} --connector c --user u")).is_err(), "{edge}");
        }
    }

    #[test]
    fn message_link_prints_the_webmail_url_of_a_uid_or_a_message_id() {
        let uid = link("message-link --base https://mail.example.com/webmail/ --folder Archive/2026 --uidvalidity 1700000000 --uid 42");
        assert_eq!(uid.as_deref(), Ok("https://mail.example.com/webmail/?folder=Archive%2F2026&uidvalidity=1700000000&uid=42"));
        let mid = link("message-link --message-id <CAF1+x@mail.example.com> --base https://mail.example.com/");
        assert_eq!(mid.as_deref(), Ok("https://mail.example.com/?mid=CAF1%2Bx%40mail.example.com"));
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
            "message-link --base https://m.example/",
        ] {
            assert!(link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doctor_takes_a_token_from_the_edge_or_stdin_and_servers_with_their_security() {
        let Ok(Command::Doctor(args)) = parse(
            "doctor --edge https://m.example/oauth --connector relay --user r@contoso.com --imap outlook.office365.com:993 --smtp smtp.office365.com:587",
        ) else {
            panic!()
        };
        let servers = args.servers().unwrap();
        assert_eq!(
            servers.iter().map(|(s, idle)| (s.protocol, s.security, *idle)).collect::<Vec<_>>(),
            [(Protocol::Imap, Security::Tls, 1800), (Protocol::Smtp, Security::StartTls, 300)]
        );
        let Ok(Command::Doctor(args)) = parse("doctor --token-stdin --user r@contoso.com --pop3 127.0.0.1:1110 --security plain --idle-timeout 60") else {
            panic!()
        };
        assert_eq!(args.servers().unwrap()[0].1, 60);
        let Ok(Command::Doctor(args)) = parse("doctor --token-stdin --user r@contoso.com --pop3 pop.example.com:110 --security plain") else { panic!() };
        assert!(args.servers().unwrap_err().contains("loopback"));
        for bad in [
            "doctor --user r@contoso.com",
            "doctor --edge https://e.example --user r@contoso.com",
            "doctor --edge https://e.example --connector c --token-stdin --user u",
            "doctor --token-stdin --user u --security none",
            "doctor --token-stdin --account ada --user u",
            "doctor --edge https://e.example --connector c --account a/b --user u",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_subcommand_and_flag_has_help() {
        Cli::command().debug_assert();
        for sub in Cli::command().get_subcommands() {
            assert!(sub.get_about().is_some(), "{}", sub.get_name());
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help") {
                assert!(arg.get_help().is_some(), "{} --{}", sub.get_name(), arg.get_id());
            }
        }
    }
}
