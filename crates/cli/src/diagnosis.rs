//! `doctor`'s rules: from what it learned (the token's claims, the clocks, each server's answer)
//! to findings that each name the fix. Pure: the caller does the I/O and passes `now`.

use crate::claims::{Claims, ClaimsError};
use crate::mail_login::{Outcome, Protocol, Server};

/// Exchange Online, as Entra names it in `aud`: v2 and v1 resource URIs and its app id.
const EXCHANGE: [&str; 3] = ["https://outlook.office365.com", "https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000"];
/// Microsoft Graph, the resource most often requested by mistake.
const GRAPH: [&str; 2] = ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"];
/// The clock skew Entra and Exchange tolerate.
const CLOCK_TOLERANCE: u64 = 300;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works now, may fail later.
    Warning,
    /// Could not be checked now (network, a server's temporary failure): try again.
    Unreachable,
    /// Wrong, with a fix.
    Problem,
}

/// One line of `doctor`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is about: `token`, `clock`, `margin`, or a protocol's name.
    pub topic: &'static str,
    /// How bad.
    pub level: Level,
    /// What was found.
    pub text: String,
    /// What to do about it.
    pub fix: Option<String>,
}

/// One login `doctor` tried.
#[derive(Debug, Clone)]
pub struct Login {
    /// Where.
    pub server: Server,
    /// How long the server lets an authenticated connection sit idle, in seconds.
    pub idle_timeout: u64,
    /// What the server said.
    pub outcome: Outcome,
}

/// Everything `diagnose` looks at.
#[derive(Debug)]
pub struct Facts<'a> {
    /// Now, in seconds since the Unix epoch, by this host's clock.
    pub now: u64,
    /// The mailbox logged in to.
    pub user: &'a str,
    /// The token's claims.
    pub claims: Result<Claims, ClaimsError>,
    /// The edge's `expires_in` when the token came from it just now (its clock against ours).
    pub edge_expires_in: Option<u64>,
    /// The connector's `token_expiry_margin`, in seconds.
    pub margin: u64,
    /// The logins tried.
    pub logins: &'a [Login],
}

fn finding(topic: &'static str, level: Level, text: String, fix: Option<String>) -> Finding {
    Finding { topic, level, text, fix }
}

/// The permission a protocol needs, app-only or delegated.
fn permission(protocol: Protocol, app_only: bool) -> &'static str {
    match (protocol, app_only) {
        (Protocol::Imap, true) => "IMAP.AccessAsApp",
        (Protocol::Pop3, true) => "POP.AccessAsApp",
        (Protocol::Smtp, true) => "SMTP.SendAsApp",
        (Protocol::Imap, false) => "IMAP.AccessAsUser.All",
        (Protocol::Pop3, false) => "POP.AccessAsUser.All",
        (Protocol::Smtp, false) => "SMTP.Send",
    }
}

/// The findings, token first, then the clock, the margin and each login.
pub fn diagnose(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    match &facts.claims {
        Ok(claims) => token_findings(facts, claims, &mut out),
        Err(ClaimsError::NotJwt) => out.push(finding(
            "token",
            Level::Warning,
            "the token is opaque (not a JWT): its audience, permissions and expiry cannot be checked here".into(),
            Some("Exchange Online takes JWTs from Entra ID for organizational accounts; check the connector's tenant and scope".into()),
        )),
        Err(ClaimsError::BadPayload) => out.push(finding(
            "token",
            Level::Problem,
            "the token looks like a JWT but its claims cannot be read".into(),
            Some("check what issues the token: it is not from Entra ID".into()),
        )),
    }
    let token_is_wrong = out.iter().any(|f| f.level == Level::Problem);
    if let Some(longest) = facts.logins.iter().filter(|l| l.outcome == Outcome::Accepted).max_by_key(|l| l.idle_timeout) {
        if facts.margin < longest.idle_timeout {
            out.push(finding(
                "margin",
                Level::Warning,
                format!(
                    "token_expiry_margin ({} s) is shorter than the {} server's idle timeout ({} s): a connection authenticated just before the edge renews the token can sit idle past the token's expiry",
                    facts.margin,
                    longest.server.protocol.name(),
                    longest.idle_timeout
                ),
                Some(format!("raise the connector's token_expiry_margin to at least {} s, or have the relay re-authenticate (reconnect) once expires_at minus the margin has passed", longest.idle_timeout)),
            ));
        }
    }
    for login in facts.logins {
        out.push(login_finding(facts, login, token_is_wrong));
    }
    out
}

fn token_findings(facts: &Facts, claims: &Claims, out: &mut Vec<Finding>) {
    let app_only = claims.is_app_only();
    let permissions = claims.permissions();
    let expires = claims.exp.map(|exp| exp as i64 - facts.now as i64);
    out.push(finding(
        "token",
        Level::Ok,
        format!(
            "{} token for {}, tenant {}, {} {}, {}",
            if app_only { "app-only" } else { "delegated" },
            if claims.aud.is_empty() { "no audience" } else { &claims.aud },
            claims.tid.as_deref().unwrap_or("unknown"),
            if app_only { "roles" } else { "scopes" },
            if permissions.is_empty() { "(none)".to_owned() } else { permissions.join(" ") },
            match (claims.user(), expires) {
                (Some(user), Some(left)) => format!("user {user}, expires in {left} s"),
                (None, Some(left)) => format!("expires in {left} s"),
                (_, None) => "no expiry".to_owned(),
            }
        ),
        None,
    ));
    if GRAPH.contains(&claims.aud.as_str()) {
        out.push(finding(
            "token",
            Level::Problem,
            format!("the token is for Microsoft Graph ({}), but IMAP, POP and SMTP take tokens for Exchange Online (https://outlook.office365.com)", claims.aud),
            Some("set the connector's scope to https://outlook.office365.com/.default (app-only) or https://outlook.office.com/IMAP.AccessAsUser.All and the like (delegated), not https://graph.microsoft.com/...; the permissions are under \"Office 365 Exchange Online\" in the app registration".into()),
        ));
    } else if !EXCHANGE.contains(&claims.aud.as_str()) {
        out.push(finding(
            "token",
            Level::Problem,
            format!("the token is for {:?}, not Exchange Online (https://outlook.office365.com)", claims.aud),
            Some("set the connector's scope to https://outlook.office365.com/.default (app-only) or the https://outlook.office.com/ scopes (delegated)".into()),
        ));
    } else if app_only && permissions.is_empty() {
        out.push(finding(
            "token",
            Level::Problem,
            "the app-only token carries no roles: no application permission of Exchange Online has been consented to".into(),
            Some(format!(
                "in the app registration, API permissions: add the Office 365 Exchange Online application permissions ({}) and press \"Grant admin consent\"",
                needed(facts, true).join(", ")
            )),
        ));
    } else {
        let missing: Vec<&str> = needed(facts, app_only).into_iter().filter(|p| !permissions.contains(p)).collect();
        if !missing.is_empty() {
            let fix = if app_only {
                format!("add the Office 365 Exchange Online application permission {} to the app registration and grant admin consent", missing.join(", "))
            } else {
                format!("add the delegated permission {} (https://outlook.office.com/...) to the connector's scope and the app registration, then connect again to consent", missing.join(", "))
            };
            out.push(finding("token", Level::Problem, format!("the token lacks {}", missing.join(", ")), Some(fix)));
        }
    }
    if let Some(user) = claims.user().filter(|u| !u.eq_ignore_ascii_case(facts.user)) {
        out.push(finding(
            "token",
            Level::Problem,
            format!("the token is {user}'s, not {}'s: a delegated token opens only its user's mailbox", facts.user),
            Some(format!("log in as {user}, or get a token for {} (an app-only token with Add-MailboxPermission reaches other mailboxes)", facts.user)),
        ));
    }
    let skew = match (facts.edge_expires_in, expires) {
        (Some(expires_in), Some(left)) => Some(left - expires_in as i64),
        // Issued in our future: our clock is behind.
        _ => claims.nbf.or(claims.iat).map(|issued| (issued as i64 - facts.now as i64).max(0)),
    };
    if let Some(skew) = skew.filter(|s| s.unsigned_abs() > CLOCK_TOLERANCE) {
        out.push(finding(
            "clock",
            Level::Problem,
            format!("this host's clock is {} s {} the token issuer's", skew.unsigned_abs(), if skew > 0 { "behind" } else { "ahead of" }),
            Some("synchronize the clock (NTP: timedatectl set-ntp true, or chrony); Entra and Exchange allow 5 minutes of skew".into()),
        ));
    } else if let Some(left) = expires {
        if left <= 0 {
            out.push(finding(
                "token",
                Level::Problem,
                format!("the token expired {} s ago", -left),
                Some("get a fresh token: `mailconnect app-token` (or `user-token`) answers one with at least token_expiry_margin left, and a relay must re-authenticate before expires_at".into()),
            ));
        } else if (left as u64) < facts.margin {
            out.push(finding(
                "token",
                Level::Problem,
                format!("the token has {left} s left, less than the connection's expiry margin ({} s): a connection authenticated with it may outlive it", facts.margin),
                Some("get a fresh token (the edge renews tokens within token_expiry_margin of their expiry), and re-authenticate long-lived connections before expires_at minus the margin".into()),
            ));
        }
    }
}

/// The permissions the tried protocols need.
fn needed(facts: &Facts, app_only: bool) -> Vec<&'static str> {
    let mut needed: Vec<&'static str> = facts.logins.iter().map(|l| permission(l.server.protocol, app_only)).collect();
    needed.dedup();
    needed
}

fn login_finding(facts: &Facts, login: &Login, token_is_wrong: bool) -> Finding {
    let (server, topic) = (&login.server, login.server.protocol.name());
    match &login.outcome {
        Outcome::Accepted => finding(topic, Level::Ok, format!("{server} accepted XOAUTH2 for {}", facts.user), None),
        Outcome::Unreachable(error) => finding(
            topic,
            Level::Unreachable,
            format!("{server}: {error}"),
            Some("check the host and port, and TLS: ports 993, 995 and 465 take TLS, 143, 110 and 587 STARTTLS (--security)".into()),
        ),
        Outcome::TlsFailed(error) => finding(
            topic,
            Level::Problem,
            format!("{server}: {error}"),
            Some("the server's certificate must be valid for the host name given: use the name on the certificate (Exchange Online: outlook.office365.com, smtp.office365.com), or --ca-file for a private CA".into()),
        ),
        Outcome::NoXoauth2 { offered } => {
            let offered = if offered.is_empty() { "no SASL mechanism".to_owned() } else { format!("only {offered}") };
            let fix = match server.protocol {
                Protocol::Smtp => format!("SMTP AUTH is off for the organization or the mailbox: Set-TransportConfig -SmtpClientAuthenticationDisabled $false, or Set-CASMailbox -Identity {} -SmtpClientAuthenticationDisabled $false; Exchange Online's endpoint is smtp.office365.com:587", facts.user),
                _ => "use the server's OAuth endpoint (Exchange Online: outlook.office365.com, 993 or 995); a self-hosted server needs XOAUTH2 enabled (Dovecot: auth_mechanisms = xoauth2 oauthbearer)".to_owned(),
            };
            finding(topic, Level::Problem, format!("{server} offers {offered}, not XOAUTH2"), Some(fix))
        }
        Outcome::Refused { reply, detail, temporary: true } => finding(
            topic,
            Level::Unreachable,
            format!("{server} failed temporarily: {reply}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()),
            Some("try again later; if it persists, read the mail server's log".into()),
        ),
        Outcome::Refused { reply, detail, temporary: false } => {
            let text = format!("{server} refused the token for {}: {reply}{}", facts.user, detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default());
            finding(topic, Level::Problem, text, Some(refusal_fix(facts, server.protocol, reply, token_is_wrong)))
        }
    }
}

/// Why a server refuses a token that looks right, from Exchange Online's usual causes.
fn refusal_fix(facts: &Facts, protocol: Protocol, reply: &str, token_is_wrong: bool) -> String {
    let user = facts.user;
    if token_is_wrong {
        return "fix the token problems above".into();
    }
    if protocol == Protocol::Smtp && (reply.contains("5.7.139") || reply.contains("SmtpClientAuthentication")) {
        return format!("SMTP AUTH is disabled for the mailbox: Set-CASMailbox -Identity {user} -SmtpClientAuthenticationDisabled $false");
    }
    match &facts.claims {
        Ok(claims) if claims.is_app_only() => {
            let app = claims.azp.as_deref().unwrap_or("<application id>");
            let principal = claims.oid.as_deref().unwrap_or("<service principal object id>");
            let mut fix = format!(
                "Exchange Online must know the app and let it into the mailbox: New-ServicePrincipal -AppId {app} -ObjectId {principal} (once), then Add-MailboxPermission -Identity {user} -User {principal} -AccessRights FullAccess"
            );
            if protocol == Protocol::Smtp {
                fix.push_str(&format!("; SMTP AUTH must be on for the mailbox: Set-CASMailbox -Identity {user} -SmtpClientAuthenticationDisabled $false"));
            }
            fix
        }
        _ => {
            let switch = match protocol {
                Protocol::Imap => "-ImapEnabled $true",
                Protocol::Pop3 => "-PopEnabled $true",
                Protocol::Smtp => "-SmtpClientAuthenticationDisabled $false",
            };
            format!("the mailbox may not allow {}: Set-CASMailbox -Identity {user} {switch}", protocol.name().to_uppercase())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::tests::jwt;
    use crate::mail_login::Security;

    const NOW: u64 = 1_800_000_000;
    const USER: &str = "relay@contoso.com";

    fn claims(payload: &str) -> Result<Claims, ClaimsError> {
        Claims::read(&jwt(payload))
    }

    fn app_token(aud: &str, roles: &str, exp: u64) -> Result<Claims, ClaimsError> {
        claims(&format!(r#"{{"aud":"{aud}","roles":[{roles}],"tid":"t","exp":{exp},"iat":{},"azp":"app-id","oid":"sp-id"}}"#, exp - 3600))
    }

    fn login(protocol: Protocol, outcome: Outcome) -> Login {
        let server = Server { protocol, host: "127.0.0.1".into(), port: 1, security: Security::Plain };
        Login { server, idle_timeout: 60, outcome }
    }

    fn refused(reply: &str) -> Outcome {
        Outcome::Refused { reply: reply.into(), detail: None, temporary: false }
    }

    fn run(claims: Result<Claims, ClaimsError>, edge_expires_in: Option<u64>, logins: &[Login]) -> Vec<Finding> {
        diagnose(&Facts { now: NOW, user: USER, claims, edge_expires_in, margin: 300, logins })
    }

    fn problems(findings: &[Finding]) -> Vec<(&'static str, &str, &str)> {
        findings.iter().filter(|f| f.level == Level::Problem).map(|f| (f.topic, f.text.as_str(), f.fix.as_deref().unwrap_or_default())).collect()
    }

    const ROLES: &str = r#""IMAP.AccessAsApp","POP.AccessAsApp","SMTP.SendAsApp""#;

    #[test]
    fn a_healthy_app_only_login_has_no_problem() {
        let logins = [login(Protocol::Imap, Outcome::Accepted), login(Protocol::Smtp, Outcome::Accepted)];
        let findings = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &logins);
        assert_eq!(problems(&findings), []);
        assert!(findings.iter().all(|f| f.level == Level::Ok), "{findings:?}");
        assert!(
            findings[0].text.starts_with("app-only token for https://outlook.office365.com, tenant t, roles IMAP.AccessAsApp POP.AccessAsApp SMTP.SendAsApp"),
            "{}",
            findings[0].text
        );
    }

    #[test]
    fn a_graph_token_is_the_wrong_resource_and_the_refusal_points_back_to_it() {
        let logins = [login(Protocol::Imap, refused("a NO [AUTHENTICATIONFAILED] Authentication failed."))];
        let findings = run(app_token("https://graph.microsoft.com", r#""Mail.Send""#, NOW + 3599), Some(3599), &logins);
        let p = problems(&findings);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].1.contains("Microsoft Graph") && p[0].2.contains("https://outlook.office365.com/.default"), "{p:?}");
        assert_eq!(p[1].2, "fix the token problems above");
    }

    #[test]
    fn a_missing_role_names_it_and_no_roles_at_all_means_no_admin_consent() {
        let logins = [login(Protocol::Smtp, refused("535 5.7.3 Authentication unsuccessful"))];
        let p = run(app_token("https://outlook.office365.com", r#""IMAP.AccessAsApp""#, NOW + 3599), Some(3599), &logins);
        assert!(problems(&p)[0].1.ends_with("lacks SMTP.SendAsApp") && problems(&p)[0].2.contains("grant admin consent"), "{p:?}");
        let none = run(app_token("https://outlook.office365.com", "", NOW + 3599), Some(3599), &logins);
        assert!(problems(&none)[0].1.contains("no roles") && problems(&none)[0].2.contains("Grant admin consent"), "{none:?}");
    }

    #[test]
    fn a_right_token_refused_by_exchange_needs_the_service_principal_and_mailbox_permission() {
        let logins = [login(Protocol::Imap, refused("a NO AUTHENTICATE failed."))];
        let p = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &logins);
        let fix = problems(&p)[0].2;
        assert!(fix.contains("New-ServicePrincipal -AppId app-id -ObjectId sp-id"), "{fix}");
        assert!(fix.contains("Add-MailboxPermission -Identity relay@contoso.com -User sp-id -AccessRights FullAccess"), "{fix}");
    }

    #[test]
    fn smtp_auth_disabled_for_the_mailbox_is_named_from_exchanges_reply() {
        let logins = [login(Protocol::Smtp, refused("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."))];
        let p = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &logins);
        assert_eq!(
            problems(&p)[0].2,
            "SMTP AUTH is disabled for the mailbox: Set-CASMailbox -Identity relay@contoso.com -SmtpClientAuthenticationDisabled $false"
        );
        let none = [login(Protocol::Smtp, Outcome::NoXoauth2 { offered: "PLAIN".into() })];
        let p = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &none);
        assert!(problems(&p)[0].1.contains("offers only PLAIN, not XOAUTH2") && problems(&p)[0].2.contains("Set-TransportConfig"), "{p:?}");
    }

    #[test]
    fn an_expired_token_and_one_inside_the_margin_are_problems() {
        let expired = run(app_token("https://outlook.office365.com", ROLES, NOW - 20), None, &[]);
        assert_eq!(problems(&expired)[0].1, "the token expired 20 s ago");
        let short = run(app_token("https://outlook.office365.com", ROLES, NOW + 100), None, &[]);
        assert!(problems(&short)[0].1.starts_with("the token has 100 s left, less than the connection's expiry margin (300 s)"), "{short:?}");
    }

    #[test]
    fn clock_skew_is_measured_against_the_edges_expires_in_or_the_issue_time() {
        // The edge says 3600 s left; by our clock, 3000: we are 600 s ahead.
        let ahead = run(app_token("https://outlook.office365.com", ROLES, NOW + 3000), Some(3600), &[]);
        assert_eq!(problems(&ahead), [("clock", "this host's clock is 600 s ahead of the token issuer's", problems(&ahead)[0].2)]);
        // Issued 900 s in our future: we are behind.
        let behind =
            run(claims(&format!(r#"{{"aud":"https://outlook.office365.com","roles":[{ROLES}],"exp":{},"iat":{}}}"#, NOW + 4500, NOW + 900)), None, &[]);
        assert_eq!(problems(&behind)[0].1, "this host's clock is 900 s behind the token issuer's");
        let fine = run(app_token("https://outlook.office365.com", ROLES, NOW + 3500), Some(3600), &[]);
        assert_eq!(problems(&fine), []);
    }

    #[test]
    fn a_delegated_token_for_another_user_is_refused_for_that_reason() {
        let token = claims(&format!(
            r#"{{"aud":"https://outlook.office.com","scp":"IMAP.AccessAsUser.All","preferred_username":"ada@contoso.com","exp":{}}}"#,
            NOW + 3600
        ));
        let p = run(token, None, &[login(Protocol::Imap, refused("a NO [AUTHENTICATIONFAILED] Authentication failed."))]);
        assert_eq!(problems(&p)[0].1, "the token is ada@contoso.com's, not relay@contoso.com's: a delegated token opens only its user's mailbox");
        assert_eq!(problems(&p)[1].2, "fix the token problems above");
    }

    #[test]
    fn a_margin_shorter_than_an_idle_timeout_warns_once_with_the_longest() {
        let mut imap = login(Protocol::Imap, Outcome::Accepted);
        imap.idle_timeout = 1800;
        let mut smtp = login(Protocol::Smtp, Outcome::Accepted);
        smtp.idle_timeout = 600;
        let findings = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &[imap, smtp]);
        let warnings: Vec<_> = findings.iter().filter(|f| f.level == Level::Warning).collect();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].text.contains("(300 s) is shorter than the imap server's idle timeout (1800 s)"), "{}", warnings[0].text);
    }

    #[test]
    fn unreachable_servers_and_temporary_failures_are_not_problems() {
        let logins = [
            login(Protocol::Imap, Outcome::Unreachable("cannot connect".into())),
            login(Protocol::Pop3, Outcome::Refused { reply: "-ERR [SYS/TEMP] Internal error".into(), detail: None, temporary: true }),
        ];
        let findings = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &logins);
        assert_eq!(problems(&findings), []);
        assert_eq!(findings.iter().filter(|f| f.level == Level::Unreachable).count(), 2);
    }

    #[test]
    fn an_untrusted_certificate_is_a_problem_to_fix_not_a_retry() {
        let logins = [login(Protocol::Imap, Outcome::TlsFailed("TLS handshake with mail.contoso.com failed: invalid peer certificate: UnknownIssuer".into()))];
        let p = run(app_token("https://outlook.office365.com", ROLES, NOW + 3599), Some(3599), &logins);
        assert!(problems(&p)[0].2.contains("--ca-file"), "{p:?}");
    }

    #[test]
    fn an_opaque_token_is_a_warning_not_a_guess() {
        let findings = run(Err(ClaimsError::NotJwt), None, &[]);
        assert_eq!((findings[0].topic, findings[0].level), ("token", Level::Warning));
    }
}
