//! The authorization code flow's browser half: the authorize URL, and the redirect back.
//!
//! # Security
//! The redirect is attacker-controlled input. [`Callback::verify`] checks `state` (in constant
//! time) before it looks at anything else, then the mix-up defences of RFC 9700 §4.4.2: the
//! redirect must arrive at the redirect URI its request named, and `iss` (RFC 9207) must name
//! the expected issuer when present, and be present when the provider says it always sends it.
//! Only then does it yield the code or the provider's error.

use crate::contract::ADMIN_CONSENT_STATE;
use crate::encoding::{find, form_encode, form_parse, form_serialize};
use crate::error::{CoreError, OAuthError};
use crate::pkce::PkceVerifier;
use crate::prelude::*;
use crate::provider::TENANT_ID_PLACEHOLDER;
use crate::secret::{AuthCode, State};
use crate::tenant::is_guid;

/// `prompt` values of OpenID Connect and Entra ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Always ask for credentials.
    Login,
    /// Show the consent page even when consent exists.
    Consent,
    /// Let the user pick an account.
    SelectAccount,
    /// Never show UI (fails with `interaction_required` instead).
    None,
}

impl Prompt {
    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            "select_account" => Prompt::SelectAccount,
            "none" => Prompt::None,
            _ => return Option::None,
        })
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
            Prompt::None => "none",
        }
    }
}

/// An authorization request (RFC 6749 §4.1.1 with PKCE and the OpenID Connect extras).
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    authorize_url: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    state: &'a State,
    challenge: String,
    prompt: Option<Prompt>,
    login_hint: Option<&'a str>,
    domain_hint: Option<&'a str>,
}

impl<'a> AuthorizationRequest<'a> {
    /// The required parts. `authorize_url` may carry a query of its own.
    pub fn new(authorize_url: &'a str, client_id: &'a str, redirect_uri: &'a str, scope: &'a str, state: &'a State, verifier: &PkceVerifier) -> Self {
        AuthorizationRequest {
            authorize_url,
            client_id,
            redirect_uri,
            scope,
            state,
            challenge: verifier.challenge(),
            prompt: None,
            login_hint: None,
            domain_hint: None,
        }
    }

    /// `prompt`.
    pub fn with_prompt(self, prompt: Prompt) -> Self {
        AuthorizationRequest { prompt: Some(prompt), ..self }
    }

    /// `login_hint`: prefills the account.
    pub fn with_login_hint(self, hint: &'a str) -> Self {
        AuthorizationRequest { login_hint: Some(hint), ..self }
    }

    /// `domain_hint`: skips home-realm discovery (e.g. `contoso.com`, `consumers`).
    pub fn with_domain_hint(self, hint: &'a str) -> Self {
        AuthorizationRequest { domain_hint: Some(hint), ..self }
    }

    /// The URL to open in the popup or the page: the required parameters, then those set of
    /// `prompt`, `login_hint` and `domain_hint`, in that order.
    pub fn url(&self) -> String {
        let mut url = String::from(self.authorize_url);
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&form_serialize([
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scope),
            ("state", self.state.expose()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]));
        let optional = [("prompt", self.prompt.map(Prompt::as_str)), ("login_hint", self.login_hint), ("domain_hint", self.domain_hint)];
        for (k, v) in optional {
            let Some(v) = v else { continue };
            url.push('&');
            url.push_str(k);
            url.push('=');
            form_encode(v, &mut url);
        }
        url
    }
}

/// The parameters of a redirect back from the authorize endpoint, not yet trusted.
#[derive(Debug, Default)]
pub struct Callback {
    code: Option<AuthCode>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
    iss: Option<String>,
    admin_consent: Option<String>,
    tenant: Option<String>,
}

/// What the client knows of the authorization request a redirect claims to answer.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The request's `state`.
    pub state: &'a State,
    /// The request's `redirect_uri`: where the redirect must arrive.
    pub redirect_uri: &'a str,
    /// The provider's issuer identifier, if known; [`TENANT_ID_PLACEHOLDER`] in it stands for
    /// any tenant's directory ID (a GUID).
    pub issuer: Option<&'a str>,
    /// Whether the provider puts `iss` in every redirect (its metadata's
    /// `authorization_response_iss_parameter_supported`).
    pub iss_parameter_supported: bool,
}

impl Expected<'_> {
    /// RFC 9207 §2.4: where the provider sends `iss`, a redirect without it is refused; a present
    /// one must match (with no issuer known, an `iss` that must be there cannot match).
    fn check_issuer(&self, got: Option<String>) -> Result<(), CoreError> {
        match (got, self.issuer) {
            (None, _) if self.iss_parameter_supported => Err(CoreError::MissingIssuer),
            (Some(got), Some(expected)) if !issuer_matches(expected, &got) => Err(CoreError::IssuerMismatch { expected: expected.to_owned(), got }),
            (Some(got), None) if self.iss_parameter_supported => Err(CoreError::IssuerMismatch { expected: String::new(), got }),
            _ => Ok(()),
        }
    }
}

/// Simple string comparison (RFC 9207 §2.4), with a GUID in place of [`TENANT_ID_PLACEHOLDER`].
fn issuer_matches(expected: &str, got: &str) -> bool {
    let split = find(expected, TENANT_ID_PLACEHOLDER).and_then(|i| Some((expected.get(..i)?, expected.get(i + TENANT_ID_PLACEHOLDER.len()..)?)));
    match split {
        Some((before, after)) => got.strip_prefix(before).and_then(|rest| rest.strip_suffix(after)).is_some_and(is_guid),
        None => got == expected,
    }
}

/// What an admin's return from the admin-consent URL reports (see [`Callback::admin_consent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConsent {
    /// The tenant that granted consent (Entra's `tenant` parameter), when sent.
    pub tenant: Option<String>,
}

impl Callback {
    /// Parses a query (`?…`) or fragment (`#…`), with or without the leading character.
    /// Returns `None` when it carries neither `code`, `error` nor `state`: not a callback at all.
    pub fn parse(params: &str) -> Option<Self> {
        let params = params.strip_prefix('?').or_else(|| params.strip_prefix('#')).unwrap_or(params);
        let mut cb = Callback::default();
        for (k, v) in form_parse(params) {
            let slot = match k.as_str() {
                "state" => &mut cb.state,
                "error" => &mut cb.error,
                "error_description" => &mut cb.error_description,
                "error_uri" => &mut cb.error_uri,
                "iss" => &mut cb.iss,
                "admin_consent" => &mut cb.admin_consent,
                "tenant" => &mut cb.tenant,
                "code" => {
                    cb.code.get_or_insert(AuthCode::new(v));
                    continue;
                }
                _ => continue,
            };
            slot.get_or_insert(v);
        }
        (cb.code.is_some() || cb.error.is_some() || cb.state.is_some()).then_some(cb)
    }

    /// The untrusted `state`, to look up the pending request it claims to answer.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// Whether this is the return from a connector's admin-consent URL (`state` =
    /// [`ADMIN_CONSENT_STATE`]) rather than from a sign-in.
    pub fn is_admin_consent(&self) -> bool {
        self.state.as_deref() == Some(ADMIN_CONSENT_STATE)
    }

    /// The outcome of an admin-consent grant: `admin_consent=True` and the tenant, or the
    /// provider's error (an admin who declined). It carries no code and redeems nothing, which
    /// is why its fixed `state` is safe; anything else is `missing_code`.
    pub fn admin_consent(self) -> Result<AdminConsent, CoreError> {
        if !self.is_admin_consent() {
            return Err(CoreError::StateMismatch);
        }
        if let Some(error) = self.error {
            return Err(CoreError::OAuth(OAuthError::from_redirect(&error, self.error_description, self.error_uri)));
        }
        if self.admin_consent.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            Ok(AdminConsent { tenant: self.tenant })
        } else {
            Err(CoreError::MissingCode)
        }
    }

    /// Checks `state`, that the redirect arrived at the request's redirect URI (`reached`: the
    /// page's URL without query or fragment) and `iss`, then yields the code, or the provider's
    /// error.
    pub fn verify(self, expected: &Expected<'_>, reached: &str) -> Result<AuthCode, CoreError> {
        if !self.state.as_deref().is_some_and(|s| expected.state.matches(s)) {
            return Err(CoreError::StateMismatch);
        }
        if reached != expected.redirect_uri {
            return Err(CoreError::RedirectUriMismatch { expected: expected.redirect_uri.to_owned(), got: reached.to_owned() });
        }
        expected.check_issuer(self.iss)?;
        if let Some(error) = self.error {
            return Err(CoreError::OAuth(OAuthError::from_redirect(&error, self.error_description, self.error_uri)));
        }
        self.code.filter(|c| !c.expose().is_empty()).ok_or(CoreError::MissingCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Action, OAuthErrorCode};
    use crate::tenant::Tenant;
    use proptest::prelude::*;

    fn verifier() -> PkceVerifier {
        PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap()
    }

    const REDIRECT_URI: &str = "https://mail.example.com/callback.html";
    const TENANT: &str = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
    const ANY_TENANT: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

    /// A request with `state` and [`REDIRECT_URI`] to a provider of `issuer` that sends `iss` or not.
    fn expected<'a>(state: &'a State, issuer: Option<&'a str>, sends_iss: bool) -> Expected<'a> {
        Expected { state, redirect_uri: REDIRECT_URI, issuer, iss_parameter_supported: sends_iss }
    }

    /// `raw` verified at [`REDIRECT_URI`] for state `s`.
    fn verify(raw: &str, issuer: Option<&str>, sends_iss: bool) -> Result<AuthCode, CoreError> {
        Callback::parse(raw).unwrap().verify(&expected(&State::new("s"), issuer, sends_iss), REDIRECT_URI)
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_hints_exactly() {
        let state = State::new("xyz");
        let url = AuthorizationRequest::new(
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            "cid",
            "https://mail.example.com/callback.html",
            "User.Read offline_access",
            &state,
            &verifier(),
        )
        .with_prompt(Prompt::SelectAccount)
        .with_login_hint("ann@contoso.com")
        .with_domain_hint("contoso.com")
        .url();
        assert_eq!(
            url,
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?response_type=code&client_id=cid&redirect_uri=https%3A%2F%2Fmail.example.com%2Fcallback.html&scope=User.Read+offline_access&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=select_account&login_hint=ann%40contoso.com&domain_hint=contoso.com"
        );
    }

    #[test]
    fn authorize_url_appends_to_an_existing_query_and_last_setter_wins() {
        let state = State::new("s");
        let url = AuthorizationRequest::new("http://127.0.0.1:9/auth?tenant=x", "c", "r", "s", &state, &verifier())
            .with_prompt(Prompt::Login)
            .with_prompt(Prompt::None)
            .url();
        assert!(url.starts_with("http://127.0.0.1:9/auth?tenant=x&response_type=code"));
        assert!(url.ends_with("&prompt=none"));
    }

    #[test]
    fn authorize_url_puts_the_optional_parameters_in_one_order_whatever_the_setters_order() {
        let state = State::new("s");
        let url = AuthorizationRequest::new("https://a/auth", "c", "r", "s", &state, &verifier())
            .with_domain_hint("contoso.com")
            .with_login_hint("ann@contoso.com")
            .with_prompt(Prompt::Consent)
            .url();
        assert!(url.ends_with("&code_challenge_method=S256&prompt=consent&login_hint=ann%40contoso.com&domain_hint=contoso.com"), "{url}");
    }

    #[test]
    fn callback_from_query_or_fragment_yields_the_code() {
        for raw in ["?code=abc%2B1&state=xyz&session_state=1", "#code=abc%2B1&state=xyz", "code=abc%2B1&state=xyz"] {
            let cb = Callback::parse(raw).unwrap();
            assert_eq!(cb.state(), Some("xyz"));
            assert_eq!(cb.verify(&expected(&State::new("xyz"), None, false), REDIRECT_URI).unwrap().expose(), "abc+1");
        }
    }

    #[test]
    fn callback_with_wrong_or_missing_state_is_refused_before_its_error() {
        let cb = Callback::parse("?error=access_denied&state=evil").unwrap();
        assert_eq!(cb.verify(&expected(&State::new("xyz"), None, false), REDIRECT_URI).unwrap_err(), CoreError::StateMismatch);
        let cb = Callback::parse("?code=abc").unwrap();
        assert_eq!(cb.verify(&expected(&State::new("xyz"), None, false), "https://elsewhere/").unwrap_err(), CoreError::StateMismatch);
    }

    #[test]
    fn admin_consent_return_reports_the_tenant_or_the_admins_refusal() {
        let cb = Callback::parse("?admin_consent=True&tenant=72f988bf-86f1-41af-91ab-2d7cd011db47&state=mailconnect-admin-consent").unwrap();
        assert!(cb.is_admin_consent());
        assert_eq!(cb.admin_consent().unwrap().tenant.as_deref(), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        let declined = Callback::parse("?error=access_denied&error_description=AADSTS65004%3A+declined&state=mailconnect-admin-consent").unwrap();
        assert!(matches!(declined.admin_consent(), Err(CoreError::OAuth(_))));
        assert_eq!(Callback::parse("?state=mailconnect-admin-consent").unwrap().admin_consent(), Err(CoreError::MissingCode));
        let sign_in = Callback::parse("?admin_consent=True&code=c&state=xyz").unwrap();
        assert!(!sign_in.is_admin_consent());
        assert_eq!(sign_in.admin_consent(), Err(CoreError::StateMismatch));
    }

    #[test]
    fn callback_with_foreign_issuer_is_refused() {
        let got = verify("?code=a&state=s&iss=https%3A%2F%2Fevil.example", Some(TENANT), false);
        assert_eq!(got.unwrap_err(), CoreError::IssuerMismatch { expected: TENANT.into(), got: "https://evil.example".into() });
        assert!(verify("?code=a&state=s&iss=https%3A%2F%2Fidp", Some("https://idp"), false).is_ok());
        assert!(
            matches!(verify("?code=a&state=s&iss=https%3A%2F%2Fidp%2F", Some("https://idp"), true), Err(CoreError::IssuerMismatch { .. })),
            "no normalising"
        );
    }

    #[test]
    fn provider_that_sends_iss_has_a_redirect_without_it_refused() {
        assert_eq!(verify("?code=a&state=s", Some(TENANT), true).unwrap_err(), CoreError::MissingIssuer);
        assert_eq!(verify("?error=access_denied&state=s", Some(TENANT), true).unwrap_err(), CoreError::MissingIssuer, "errors carry iss too");
        let iss = "?code=a&state=s&iss=https%3A%2F%2Flogin.microsoftonline.com%2F72f988bf-86f1-41af-91ab-2d7cd011db47%2Fv2.0";
        assert_eq!(verify(iss, Some(TENANT), true).unwrap().expose(), "a");
    }

    #[test]
    fn provider_that_does_not_send_iss_is_not_refused_for_its_absence() {
        assert_eq!(verify("?code=a&state=s", Some(TENANT), false).unwrap().expose(), "a");
        assert_eq!(verify("?code=a&state=s", None, false).unwrap().expose(), "a");
    }

    #[test]
    fn provider_said_to_send_iss_without_a_known_issuer_refuses_every_iss() {
        assert!(matches!(verify("?code=a&state=s&iss=https%3A%2F%2Fidp", None, true), Err(CoreError::IssuerMismatch { .. })));
    }

    #[test]
    fn tenant_independent_issuer_takes_any_tenant_id_and_nothing_else() {
        for tenant in ["72f988bf-86f1-41af-91ab-2d7cd011db47", Tenant::CONSUMERS_ID] {
            let raw = format!("?code=a&state=s&iss=https%3A%2F%2Flogin.microsoftonline.com%2F{tenant}%2Fv2.0");
            assert!(verify(&raw, Some(ANY_TENANT), false).is_ok(), "{tenant}");
        }
        for iss in [
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.com/contoso.com/v2.0",
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0/x",
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/evil/v2.0",
            "https://evil.example/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        ] {
            let raw = form_serialize([("code", "a"), ("state", "s"), ("iss", iss)]);
            assert!(matches!(verify(&raw, Some(ANY_TENANT), false), Err(CoreError::IssuerMismatch { .. })), "{iss}");
        }
        let local = "http://127.0.0.1:9010/{tenantid}/v2.0";
        let raw = "?code=a&state=s&iss=http%3A%2F%2F127.0.0.1%3A9010%2F72f988bf-86f1-41af-91ab-2d7cd011db47%2Fv2.0";
        assert!(verify(raw, Some(local), true).is_ok(), "the configured authority's host");
        assert!(matches!(verify(raw, Some(ANY_TENANT), true), Err(CoreError::IssuerMismatch { .. })));
    }

    #[test]
    fn redirect_reaching_another_redirect_uri_is_refused_as_a_mix_up() {
        let cb = Callback::parse("?code=a&state=s").unwrap();
        let other = "https://mail.example.com/zoom-callback.html";
        assert_eq!(
            cb.verify(&expected(&State::new("s"), None, false), other).unwrap_err(),
            CoreError::RedirectUriMismatch { expected: REDIRECT_URI.into(), got: other.into() }
        );
        let cb = Callback::parse("?code=a&state=s&iss=https%3A%2F%2Fidp").unwrap();
        assert!(matches!(cb.verify(&expected(&State::new("s"), Some("https://idp"), true), other), Err(CoreError::RedirectUriMismatch { .. })));
    }

    #[test]
    fn callback_error_is_classified_by_its_aadsts_number() {
        let cb = Callback::parse("?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent.&state=s").unwrap();
        let err = cb.verify(&expected(&State::new("s"), None, false), REDIRECT_URI).unwrap_err();
        let CoreError::OAuth(e) = &err else { panic!("{err:?}") };
        assert_eq!(e.error, OAuthErrorCode::AccessDenied);
        assert_eq!(e.codes, vec![65004]);
        assert_eq!(err.action(), Action::Consent);
    }

    #[test]
    fn non_callbacks_and_empty_codes_are_told_apart() {
        assert!(Callback::parse("?tab=inbox").is_none());
        assert!(Callback::parse("").is_none());
        assert_eq!(verify("?code=&state=s", None, false).unwrap_err(), CoreError::MissingCode);
    }

    proptest! {
        #[test]
        fn authorize_url_state_survives_a_callback_round_trip(state in "\\PC{1,40}", code in "\\PC{1,60}") {
            let st = State::new(state.clone());
            let url = AuthorizationRequest::new("https://a/authorize", "c", "https://a/cb", "openid", &st, &verifier()).url();
            let query = url.split_once('?').unwrap().1;
            let echoed = form_parse(query).into_iter().find(|(k, _)| k == "state").unwrap().1;
            let redirect = form_serialize([("code", code.as_str()), ("state", echoed.as_str())]);
            let got = Callback::parse(&redirect).unwrap().verify(&expected(&st, None, false), REDIRECT_URI).unwrap();
            prop_assert_eq!(got.expose(), code.as_str());
        }
    }
}
