//! Logging in to a mail server with XOAUTH2 the way a relay does, and keeping the server's
//! verdict: IMAP `AUTHENTICATE XOAUTH2`, POP3 `AUTH XOAUTH2` then the response after `+`, SMTP
//! `AUTH XOAUTH2`, over implicit TLS, STARTTLS, or plain text on loopback only.
//!
//! Hand-written rather than through `lettre` or an IMAP crate: a refused XOAUTH2 login answers
//! with an error challenge (RFC 7628 §3.2.2: `+`/`334` and a base64 JSON status) that the client
//! must acknowledge with an empty line before the final `NO`/`535`. `lettre` (0.11) stops at that
//! challenge with a client error, losing the server's reply that `doctor` exists to explain, and
//! always puts the initial response on the AUTH line, which a server holding SMTP to its 512-octet
//! line limit refuses for a token-sized string (Dovecot: `500 5.5.2 Line too long`). The IMAP
//! crates are either unmaintained or need an async runtime. Only the login is spoken.
//!
//! Security: the XOAUTH2 string carries a bearer token, so it is sent only over TLS, or in plain
//! text to a loopback address (tests and local relays); `Security::parse` refuses anything else.
//! After STARTTLS, bytes the server sent before the handshake are refused (STARTTLS injection).

use mailconnect_core::encoding::base64_decode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);
/// SMTP's command line limit, CRLF included (RFC 5321 §4.5.3.1.4).
const SMTP_LINE_LIMIT: usize = 512;
/// The longest server line read; longer ones are a broken or hostile server.
const MAX_LINE: u64 = 16 * 1024;

/// The protocols a relay logs in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// IMAP4 (RFC 9051).
    Imap,
    /// POP3 (RFC 1939, SASL per RFC 5034).
    Pop3,
    /// SMTP submission (RFC 6409, AUTH per RFC 4954).
    Smtp,
}

impl Protocol {
    /// The name `doctor` prints.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
        }
    }

    /// The port whose convention is implicit TLS (993, 995, 465); others use STARTTLS.
    fn implicit_tls_port(self) -> u16 {
        match self {
            Protocol::Imap => 993,
            Protocol::Pop3 => 995,
            Protocol::Smtp => 465,
        }
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte.
    Tls,
    /// A plain connection upgraded with STARTTLS (STLS in POP3).
    StartTls,
    /// No TLS: loopback only.
    Plain,
}

/// A mail server to log in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The protocol.
    pub protocol: Protocol,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS, STARTTLS or plain.
    pub security: Security,
}

impl Server {
    /// Parses `host:port` (`[v6]:port` for IPv6). `security` of `None` follows the port's
    /// convention. Plain text is refused unless the host is a loopback address.
    pub fn parse(protocol: Protocol, address: &str, security: Option<Security>) -> Result<Server, String> {
        let (host, port) = address.rsplit_once(':').ok_or_else(|| format!("{address:?} is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(|| format!("{address:?}: the port must be a number from 1 to 65535"))?;
        if host.is_empty() {
            return Err(format!("{address:?}: the host is missing"));
        }
        let security = security.unwrap_or(if port == protocol.implicit_tls_port() { Security::Tls } else { Security::StartTls });
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if security == Security::Plain && !loopback {
            return Err(format!("{address:?}: plain text would send the token in clear; it is allowed to loopback addresses only"));
        }
        Ok(Server { protocol, host: host.to_owned(), port, security })
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let security = match self.security {
            Security::Tls => "TLS",
            Security::StartTls => "STARTTLS",
            Security::Plain => "plain",
        };
        if self.host.contains(':') {
            write!(f, "[{}]:{} ({security})", self.host, self.port)
        } else {
            write!(f, "{}:{} ({security})", self.host, self.port)
        }
    }
}

/// What the server made of the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Logged in.
    Accepted,
    /// The server refused the token. `reply` is its final line, `detail` the decoded error
    /// challenge when it sent one, `temporary` whether it said to try later.
    Refused { reply: String, detail: Option<String>, temporary: bool },
    /// The server does not offer XOAUTH2 (or AUTH at all) on this connection; `offered` is what
    /// it advertised.
    NoXoauth2 { offered: String },
    /// No answer: connection or protocol failure.
    Unreachable(String),
    /// The TLS handshake failed: the server's certificate is not trusted or not for this host.
    TlsFailed(String),
}

/// Why a login got no verdict.
#[derive(Debug)]
enum Failure {
    Unreachable(String),
    Tls(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Unreachable(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Unreachable(message.to_owned())
    }
}

/// The certificates TLS connections trust: the Web PKI's roots (webpki-roots), and those of a
/// PEM file for a server with a certificate of a private CA.
#[derive(Debug, Clone)]
pub struct Tls(Arc<rustls::ClientConfig>);

impl Tls {
    /// The Web PKI's roots, plus every certificate in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = ca_file {
            let certificates =
                CertificateDer::pem_file_iter(path).and_then(|certs| certs.collect::<Result<Vec<_>, _>>()).map_err(|e| format!("{}: {e}", path.display()))?;
            if certificates.is_empty() {
                return Err(format!("{}: no certificate in it", path.display()));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls(Arc::new(config)))
    }
}

/// Logs in with `xoauth2` (core's `xoauth2()` string) and logs out again.
pub fn login(server: &Server, xoauth2: &str, tls: &Tls) -> Outcome {
    let result = Conn::open(server, tls).and_then(|mut conn| match server.protocol {
        Protocol::Imap => imap(&mut conn, server.security, xoauth2),
        Protocol::Pop3 => pop3(&mut conn, server.security, xoauth2),
        Protocol::Smtp => smtp(&mut conn, server.security, xoauth2),
    });
    result.unwrap_or_else(|failure| match failure {
        Failure::Unreachable(message) => Outcome::Unreachable(message),
        Failure::Tls(message) => Outcome::TlsFailed(message),
    })
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A line-oriented connection, plain until `start_tls`.
struct Conn {
    plain: Option<BufReader<TcpStream>>,
    encrypted: Option<BufReader<Box<dyn Stream>>>,
    /// The name the server's certificate must have.
    host: String,
    tls: Tls,
}

impl Conn {
    fn open(server: &Server, tls: &Tls) -> Result<Conn, Failure> {
        let addr = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", server.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", server.host))?;
        let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        tcp.set_read_timeout(Some(TIMEOUT)).and_then(|()| tcp.set_write_timeout(Some(TIMEOUT))).map_err(|e| e.to_string())?;
        let mut conn = Conn { plain: Some(BufReader::new(tcp)), encrypted: None, host: server.host.clone(), tls: tls.clone() };
        if server.security == Security::Tls {
            conn.start_tls()?;
        }
        Ok(conn)
    }

    fn start_tls(&mut self) -> Result<(), Failure> {
        let host = self.host.as_str();
        let reader = self.plain.take().ok_or("unreachable: TLS started twice")?;
        if !reader.buffer().is_empty() {
            return Err("the server sent data before the TLS handshake (refused: STARTTLS injection)".into());
        }
        let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| format!("{host:?} is not a valid TLS server name"))?;
        let client = rustls::ClientConnection::new(self.tls.0.clone(), name).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(client, reader.into_inner());
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).map_err(|e| Failure::Tls(format!("TLS handshake with {host} failed: {e}")))?;
        }
        self.encrypted = Some(BufReader::new(Box::new(tls)));
        Ok(())
    }

    fn send(&mut self, line: &str) -> Result<(), Failure> {
        let bytes = format!("{line}\r\n");
        let result = match (&mut self.plain, &mut self.encrypted) {
            (Some(r), _) => r.get_mut().write_all(bytes.as_bytes()).and_then(|()| r.get_mut().flush()),
            (_, Some(r)) => r.get_mut().write_all(bytes.as_bytes()).and_then(|()| r.get_mut().flush()),
            _ => return Err("unreachable: no stream".into()),
        };
        result.map_err(|e| format!("sending failed: {e}").into())
    }

    fn line(&mut self) -> Result<String, Failure> {
        let mut line = String::new();
        let read = match (&mut self.plain, &mut self.encrypted) {
            (Some(r), _) => r.by_ref().take(MAX_LINE).read_line(&mut line),
            (_, Some(r)) => r.by_ref().take(MAX_LINE).read_line(&mut line),
            _ => return Err("unreachable: no stream".into()),
        };
        match read {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) if !line.ends_with('\n') => Err("the server sent an overlong or unterminated line".into()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => Err(format!("reading failed: {e}").into()),
        }
    }
}

/// The JSON status inside an XOAUTH2 error challenge, or the raw text if it is not base64.
fn challenge_detail(encoded: &str) -> Option<String> {
    let encoded = encoded.trim();
    if encoded.is_empty() {
        return None;
    }
    Some(base64_decode(encoded).and_then(|b| String::from_utf8(b).ok()).unwrap_or_else(|| encoded.to_owned()))
}

fn imap(conn: &mut Conn, security: Security, xoauth2: &str) -> Result<Outcome, Failure> {
    let greeting = conn.line()?;
    if !greeting.starts_with("* OK") {
        return Err(format!("unexpected IMAP greeting: {greeting}").into());
    }
    if security == Security::StartTls {
        imap_command(conn, "s STARTTLS")?;
        conn.start_tls()?;
    }
    let capabilities = imap_command(conn, "c CAPABILITY")?.into_iter().find(|l| l.starts_with("* CAPABILITY ")).unwrap_or_default();
    let words: Vec<&str> = capabilities.split_whitespace().collect();
    if !words.contains(&"AUTH=XOAUTH2") {
        return Ok(Outcome::NoXoauth2 { offered: words.iter().filter_map(|w| w.strip_prefix("AUTH=")).collect::<Vec<_>>().join(" ") });
    }
    // With SASL-IR the response goes with the command; without, after the server's empty `+`.
    let mut sent = words.contains(&"SASL-IR");
    conn.send(&if sent { format!("a AUTHENTICATE XOAUTH2 {xoauth2}") } else { "a AUTHENTICATE XOAUTH2".to_owned() })?;
    let mut detail = None;
    loop {
        let line = conn.line()?;
        if let Some(challenge) = line.strip_prefix('+') {
            if sent {
                // An error challenge: acknowledge it with an empty response to get the verdict.
                detail = challenge_detail(challenge);
                conn.send("")?;
            } else {
                sent = true;
                conn.send(xoauth2)?;
            }
        } else if line.starts_with("a OK") {
            let _ = imap_command(conn, "z LOGOUT");
            return Ok(Outcome::Accepted);
        } else if line.starts_with("a NO") || line.starts_with("a BAD") {
            let temporary = line.contains("[UNAVAILABLE]") || line.contains("[SERVERBUG]");
            return Ok(Outcome::Refused { reply: line, detail, temporary });
        }
    }
}

/// Sends a tagged IMAP command and returns the untagged lines before its `OK`.
fn imap_command(conn: &mut Conn, command: &str) -> Result<Vec<String>, Failure> {
    let tag = command.split(' ').next().unwrap_or_default();
    conn.send(command)?;
    let mut untagged = Vec::new();
    loop {
        let line = conn.line()?;
        match line.strip_prefix(tag).and_then(|rest| rest.strip_prefix(' ')) {
            Some(status) if status.starts_with("OK") => return Ok(untagged),
            Some(_) => return Err(format!("{command}: {line}").into()),
            None => untagged.push(line),
        }
    }
}

fn pop3(conn: &mut Conn, security: Security, xoauth2: &str) -> Result<Outcome, Failure> {
    let greeting = conn.line()?;
    if !greeting.starts_with("+OK") {
        return Err(format!("unexpected POP3 greeting: {greeting}").into());
    }
    if security == Security::StartTls {
        conn.send("STLS")?;
        let reply = conn.line()?;
        if !reply.starts_with("+OK") {
            return Err(format!("STLS: {reply}").into());
        }
        conn.start_tls()?;
    }
    conn.send("CAPA")?;
    let mut sasl = String::new();
    if conn.line()?.starts_with("+OK") {
        loop {
            let line = conn.line()?;
            if line == "." {
                break;
            }
            if let Some(mechanisms) = line.strip_prefix("SASL ") {
                sasl = mechanisms.to_owned();
            }
        }
    }
    if !sasl.split_whitespace().any(|m| m == "XOAUTH2") {
        return Ok(Outcome::NoXoauth2 { offered: sasl });
    }
    // The two-line form: the command alone, the response after the server's `+`.
    conn.send("AUTH XOAUTH2")?;
    let go_ahead = conn.line()?;
    if !go_ahead.starts_with('+') || go_ahead.starts_with("+OK") {
        return Ok(Outcome::Refused { reply: go_ahead, detail: None, temporary: false });
    }
    conn.send(xoauth2)?;
    let mut detail = None;
    loop {
        let line = conn.line()?;
        if line.starts_with("+OK") {
            conn.send("QUIT")?;
            return Ok(Outcome::Accepted);
        } else if line.starts_with("-ERR") {
            let temporary = line.contains("[SYS/TEMP]") || line.contains("[IN-USE]");
            return Ok(Outcome::Refused { reply: line, detail, temporary });
        } else if let Some(challenge) = line.strip_prefix('+') {
            detail = challenge_detail(challenge);
            conn.send("")?;
        } else {
            return Err(format!("unexpected POP3 reply: {line}").into());
        }
    }
}

/// Reads an SMTP reply (`250-…` continuation lines, then `250 …`): its code and every line.
fn smtp_reply(conn: &mut Conn) -> Result<(u16, Vec<String>), Failure> {
    let mut lines = Vec::new();
    loop {
        let line = conn.line()?;
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| format!("unexpected SMTP reply: {line}"))?;
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return Ok((code, lines));
        }
    }
}

fn smtp_ehlo(conn: &mut Conn) -> Result<Vec<String>, Failure> {
    conn.send("EHLO mailconnect-doctor")?;
    match smtp_reply(conn)? {
        (250, lines) => Ok(lines),
        (_, lines) => Err(format!("EHLO: {}", lines.join(" / ")).into()),
    }
}

fn smtp(conn: &mut Conn, security: Security, xoauth2: &str) -> Result<Outcome, Failure> {
    let (code, greeting) = smtp_reply(conn)?;
    if code != 220 {
        return Err(format!("unexpected SMTP greeting: {}", greeting.join(" / ")).into());
    }
    let mut ehlo = smtp_ehlo(conn)?;
    if security == Security::StartTls {
        conn.send("STARTTLS")?;
        match smtp_reply(conn)? {
            (220, _) => conn.start_tls()?,
            (_, lines) => return Err(format!("STARTTLS: {}", lines.join(" / ")).into()),
        }
        ehlo = smtp_ehlo(conn)?;
    }
    let auth = ehlo.iter().find_map(|l| l.get(4..).and_then(|k| k.strip_prefix("AUTH ").or_else(|| k.strip_prefix("AUTH=")))).unwrap_or_default();
    if !auth.split_whitespace().any(|m| m == "XOAUTH2") {
        return Ok(Outcome::NoXoauth2 { offered: auth.to_owned() });
    }
    // RFC 4954 §4: when the initial response would make the command longer than SMTP's line
    // limit (512 octets with CRLF; a token makes it about 1,300), it goes after the 334 instead.
    let initial = format!("AUTH XOAUTH2 {xoauth2}");
    let mut sent = initial.len() + 2 <= SMTP_LINE_LIMIT;
    conn.send(if sent { &initial } else { "AUTH XOAUTH2" })?;
    let mut detail = None;
    loop {
        let (code, lines) = smtp_reply(conn)?;
        match code {
            235 => {
                let _ = conn.send("QUIT");
                return Ok(Outcome::Accepted);
            }
            334 if !sent => {
                sent = true;
                conn.send(xoauth2)?;
            }
            334 => {
                detail = challenge_detail(lines.last().and_then(|l| l.get(4..)).unwrap_or_default());
                conn.send("")?;
            }
            _ => return Ok(Outcome::Refused { reply: lines.join(" / "), detail, temporary: (400..500).contains(&code) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_follows_the_port_unless_given() {
        let imaps = Server::parse(Protocol::Imap, "outlook.office365.com:993", None).unwrap();
        assert_eq!((imaps.host.as_str(), imaps.port, imaps.security), ("outlook.office365.com", 993, Security::Tls));
        assert_eq!(Server::parse(Protocol::Smtp, "smtp.office365.com:587", None).unwrap().security, Security::StartTls);
        assert_eq!(Server::parse(Protocol::Pop3, "[::1]:1110", Some(Security::Plain)).unwrap().host, "::1");
        assert_eq!(Server::parse(Protocol::Pop3, "[::1]:1110", Some(Security::Plain)).unwrap().to_string(), "[::1]:1110 (plain)");
    }

    #[test]
    fn plain_text_only_to_loopback_and_bad_addresses_are_refused() {
        assert!(Server::parse(Protocol::Imap, "127.0.0.1:1143", Some(Security::Plain)).is_ok());
        assert!(Server::parse(Protocol::Imap, "localhost:1143", Some(Security::Plain)).is_ok());
        for bad in ["mail.example.com:143", "10.0.0.1:143"] {
            assert!(Server::parse(Protocol::Imap, bad, Some(Security::Plain)).unwrap_err().contains("loopback"), "{bad}");
        }
        for bad in ["mail.example.com", ":143", "mail.example.com:0", "mail.example.com:imap"] {
            assert!(Server::parse(Protocol::Imap, bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_error_challenge_decodes_to_its_json_status() {
        assert_eq!(challenge_detail("eyJzdGF0dXMiOiI0MDEifQ==").as_deref(), Some(r#"{"status":"401"}"#));
        assert_eq!(challenge_detail(" "), None);
    }

    /// A server on a loopback port that plays `steps`: for each, it reads one line from the
    /// client (when `expect` is given; it must start with it), then writes `reply` and CRLF.
    /// The thread's result lists the lines that did not match.
    fn scripted(steps: &'static [(Option<&'static str>, &'static str)]) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut mismatches = Vec::new();
            for (expect, reply) in steps {
                if let Some(expect) = expect {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if !line.starts_with(expect) {
                        mismatches.push(format!("expected {expect:?}, got {line:?}"));
                    }
                }
                writer.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
            }
            mismatches
        });
        (port, server)
    }

    fn play(protocol: Protocol, steps: &'static [(Option<&'static str>, &'static str)]) -> Outcome {
        let (port, server) = scripted(steps);
        let outcome = login(&Server { protocol, host: "127.0.0.1".into(), port, security: Security::Plain }, "eHg=", &Tls::new(None).unwrap());
        assert_eq!(server.join().unwrap(), Vec::<String>::new());
        outcome
    }

    #[test]
    fn imap_without_sasl_ir_sends_the_response_after_the_empty_challenge() {
        let outcome = play(
            Protocol::Imap,
            &[
                (None, "* OK ready"),
                (Some("c CAPABILITY"), "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\nc OK done"),
                (Some("a AUTHENTICATE XOAUTH2\r"), "+ "),
                (Some("eHg=\r"), "a OK logged in"),
                (Some("z LOGOUT"), "* BYE\r\nz OK bye"),
            ],
        );
        assert_eq!(outcome, Outcome::Accepted);
    }

    #[test]
    fn smtp_sends_a_short_response_with_the_command_and_acknowledges_an_error_challenge() {
        let outcome = play(
            Protocol::Smtp,
            &[
                (None, "220 ready"),
                (Some("EHLO "), "250-mx\r\n250 AUTH PLAIN XOAUTH2"),
                (Some("AUTH XOAUTH2 eHg=\r"), "334 eyJzdGF0dXMiOiI0MDEifQ=="),
                (Some("\r\n"), "535 5.7.3 Authentication unsuccessful"),
            ],
        );
        assert_eq!(
            outcome,
            Outcome::Refused { reply: "535 5.7.3 Authentication unsuccessful".into(), detail: Some(r#"{"status":"401"}"#.into()), temporary: false }
        );
    }

    #[test]
    fn pop3_without_xoauth2_reports_what_the_server_offers() {
        let outcome = play(Protocol::Pop3, &[(None, "+OK ready"), (Some("CAPA"), "+OK\r\nSASL PLAIN LOGIN\r\n.")]);
        assert_eq!(outcome, Outcome::NoXoauth2 { offered: "PLAIN LOGIN".into() });
    }

    #[test]
    fn data_sent_before_the_tls_handshake_is_refused_as_starttls_injection() {
        let (port, server) = scripted(&[(None, "220 ready"), (Some("EHLO "), "250-mx\r\n250 STARTTLS"), (Some("STARTTLS"), "220 go ahead\r\n250 injected")]);
        let outcome =
            login(&Server { protocol: Protocol::Smtp, host: "127.0.0.1".into(), port, security: Security::StartTls }, "eHg=", &Tls::new(None).unwrap());
        server.join().unwrap();
        assert!(matches!(&outcome, Outcome::Unreachable(e) if e.contains("STARTTLS injection")), "{outcome:?}");
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let server = Server::parse(Protocol::Smtp, "127.0.0.1:9", Some(Security::Plain)).unwrap();
        assert!(matches!(login(&server, "x", &Tls::new(None).unwrap()), Outcome::Unreachable(_)));
    }
}
