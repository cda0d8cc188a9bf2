//! The settings parser against settings as operators write them.

use super::connector::{pkcs8_der, x5t};
use super::*;
use mailconnect_core::encoding::base64url;
use serde_json::{json, Value};

fn settings() -> serde_json::Map<String, Value> {
    let v = json!({
        "ALLOWED_ORIGINS": "http://localhost:8787",
        "SESSION_KEY": "0123456789abcdef0123456789abcdef",
        "TEAMS_CLIENT_SECRET": "s3cr3t",
        "CONNECTORS": {
            "teams": {
                "provider": "microsoft", "tenant": "common", "authority": "http://127.0.0.1:9010",
                "client_id": "teams-client", "scope": "openid profile User.Read offline_access",
                "redirect_uris": ["http://localhost:8787/callback"]
            }
        }
    });
    let Value::Object(map) = v else { unreachable!() };
    map
}

/// What `GET /oauth/connectors/{id}` shows of browser connector `id`.
fn public(config: &Config, id: &str) -> ConnectorInfo {
    let (connector, browser) = config.browser(id).unwrap();
    browser.public(connector)
}

fn read(map: &serde_json::Map<String, Value>) -> Result<Config, EdgeError> {
    // As `binding` gives them: strings as they are, the rest as JSON.
    Config::read(&|name| map.get(name).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
}

fn failing_setting(map: &serde_json::Map<String, Value>) -> String {
    match read(map).unwrap_err() {
        EdgeError::Config { setting, .. } => setting,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn dev_settings_parse_and_derive_microsoft_endpoints() {
    let config = read(&settings()).unwrap();
    let teams = config.connector("teams").unwrap();
    assert_eq!(public(&config, "teams").authorize_url, "http://127.0.0.1:9010/common/oauth2/v2.0/authorize");
    assert_eq!(teams.provider.token_url(), "http://127.0.0.1:9010/common/oauth2/v2.0/token");
    assert!(matches!(teams.credential, Credential::Secret { in_body: false, .. }));
    assert!(config.allows_origin("http://localhost:8787"));
    assert!(!config.allows_origin("http://localhost:8788"));
    assert_eq!((config.session_idle, teams.timeout), (14 * 86_400, Duration::from_secs(10)));
}

#[test]
fn session_keys_list_the_newest_first_and_a_session_key_still_set_is_the_oldest() {
    let (new, old, older) = ("N".repeat(32), "O".repeat(32), "P".repeat(40));
    let keys = |map: &serde_json::Map<String, Value>| read(map).map(|c| c.session_keys.all().map(|k| k.expose().to_vec()).collect::<Vec<_>>());
    let mut map = settings();
    map.insert("SESSION_KEYS".into(), json!(format!(" {new} {old},{new}\n")));
    map.insert("SESSION_KEY".into(), json!(older));
    assert_eq!(keys(&map).unwrap(), [new.as_bytes(), old.as_bytes(), older.as_bytes()]);
    map.remove("SESSION_KEY");
    assert_eq!(keys(&map).unwrap(), [new.as_bytes(), old.as_bytes()]);
    map.insert("SESSION_KEYS".into(), json!(format!("{new} short")));
    assert_eq!(failing_setting(&map), "SESSION_KEYS");
    assert_eq!(keys(&settings()).unwrap(), [b"0123456789abcdef0123456789abcdef"]);
    map.remove("SESSION_KEYS");
    assert_eq!(failing_setting(&map), "SESSION_KEYS", "neither is set");
}

#[test]
fn every_missing_or_malformed_setting_is_named() {
    for (name, patch) in [
        ("SESSION_KEY", json!("short")),
        ("ALLOWED_ORIGINS", json!("https://mail.example.com/path")),
        ("TEAMS_CLIENT_SECRET", json!(null)),
        ("SESSION_IDLE_SECONDS", json!("soon")),
    ] {
        let mut map = settings();
        match patch {
            Value::Null => map.remove(name),
            value => map.insert(name.into(), value),
        };
        assert_eq!(failing_setting(&map), name);
    }
    for (field, value, setting) in [
        ("tenant", json!("not a tenant"), "CONNECTORS.teams.tenant"),
        ("scope", json!("User.Read https://outlook.office.com/SMTP.Send"), "CONNECTORS.teams.scope"),
        ("redirect_uris", json!(["http://evil.example/cb"]), "CONNECTORS.teams.redirect_uris"),
        ("client_auth", json!("private_key_jwt"), "CONNECTORS.teams.certificate_thumbprint"),
        ("colour", json!("blue"), "CONNECTORS.teams"),
    ] {
        let mut map = settings();
        map["CONNECTORS"]["teams"][field] = value;
        assert_eq!(failing_setting(&map), setting, "{field}");
    }
}

#[test]
fn connectors_may_come_as_a_json_string_and_secrets_follow_the_id() {
    let mut map = settings();
    let mut connectors = map["CONNECTORS"].clone();
    connectors["outlook-mail"] = connectors["teams"].clone();
    map.insert("CONNECTORS".into(), Value::String(connectors.to_string()));
    assert_eq!(failing_setting(&map), "OUTLOOK_MAIL_CLIENT_SECRET");
    map.insert("OUTLOOK_MAIL_CLIENT_SECRET".into(), json!("x"));
    assert!(read(&map).unwrap().connector("outlook-mail").is_ok());
}

#[test]
fn thumbprint_becomes_x5t_and_pem_must_be_pkcs8() {
    // SHA-1("abc"), a well-known vector.
    assert_eq!(
        x5t("A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D").unwrap(),
        base64url(&[0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d])
    );
    assert_eq!(x5t("abc"), None);
    let body = base64url(&[7u8; 100]);
    assert_eq!(pkcs8_der(&format!("-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n")).unwrap(), vec![7u8; 100]);
    assert_eq!(pkcs8_der(&format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----")), None);
}

/// The settings of wrangler.toml's `[vars]` (or an environment's, `[env.NAME.vars]`), with the
/// secrets .dev.vars.example names.
fn wrangler_settings(env: Option<&str>) -> Config {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wrangler.toml")).unwrap();
    let wrangler: toml::Table = toml::from_str(&text).unwrap();
    let table = match env {
        Some(env) => &wrangler["env"][env],
        None => &toml::Value::Table(wrangler),
    };
    let mut map = serde_json::Map::new();
    for (name, value) in table["vars"].as_table().unwrap() {
        map.insert(name.clone(), serde_json::to_value(value).unwrap());
    }
    for secret in ["SESSION_KEY", "TEAMS_CLIENT_SECRET", "OUTLOOK_MAIL_CLIENT_SECRET"] {
        map.insert(secret.into(), json!("0123456789abcdef0123456789abcdef"));
    }
    read(&map).unwrap()
}

#[test]
fn committed_wrangler_toml_vars_are_valid_settings() {
    let config = wrangler_settings(None);
    assert_eq!(config.connector_ids().collect::<Vec<_>>(), ["outlook-mail", "teams"]);
    assert!(config.allows_origin("http://localhost:8787"));
    assert_eq!(public(&config, "teams").redirect_uris, ["http://localhost:8787/callback"]);
}

#[test]
fn production_example_is_valid_and_uses_no_loopback_host() {
    let config = wrangler_settings(Some("production"));
    assert_eq!(config.connector_ids().collect::<Vec<_>>(), ["outlook-mail", "teams"]);
    assert!(config.allowed_origins.iter().all(|origin| origin.starts_with("https://")));
    for id in config.connector_ids() {
        let (connector, info) = (config.connector(id).unwrap(), public(&config, id));
        let urls = [vec![info.authorize_url, connector.provider.token_url()], info.redirect_uris].concat();
        assert!(urls.iter().all(|url| url.starts_with("https://") && !url.contains("localhost")), "{id}: {urls:?}");
    }
}

const API_KEY: &str = "k7Qm1c0Jt1W9S3eVb2rP8xYzL4nH6gDf";

/// `settings()` plus an app-token connector `relay` with `grant`.
fn with_relay(grant: &str) -> serde_json::Map<String, Value> {
    let relay = json!({
        "provider": "microsoft", "tenant": "contoso.onmicrosoft.com", "authority": "http://127.0.0.1:9010",
        "client_id": "relay-client", "scope": "https://outlook.office365.com/.default", "grant": grant
    });
    let mut map = with_connector("relay", relay, json!({}));
    map.insert("RELAY_API_KEYS".into(), json!(format!("{API_KEY}, {API_KEY}-next")));
    map
}

#[test]
fn client_credentials_connector_is_hidden_from_browser_routes() {
    let config = read(&with_relay("client_credentials")).unwrap();
    let (relay, app) = config.app_connector("relay").unwrap();
    assert!(matches!(app.grant, AppGrant::ClientCredentials) && app.api_keys.verify(&format!("{API_KEY}-next")).unwrap());
    assert_eq!((relay.expiry_margin, relay.provider.token_url().as_str()), (300, "http://127.0.0.1:9010/contoso.onmicrosoft.com/oauth2/v2.0/token"));
    assert!(matches!(config.connector("relay"), Err(EdgeError::UnknownConnector)));
    assert!(matches!(config.app_connector("teams"), Err(EdgeError::AppTokensNotEnabled)));
    assert_eq!(config.connector_ids().collect::<Vec<_>>(), ["teams"]);
}

#[test]
fn client_credentials_need_a_specific_tenant() {
    for tenant in ["common", "organizations", "consumers"] {
        let mut map = with_relay("client_credentials");
        map["CONNECTORS"]["relay"]["tenant"] = json!(tenant);
        let EdgeError::Config { setting, problem } = read(&map).unwrap_err() else { panic!("not a configuration error") };
        assert_eq!(setting, "CONNECTORS.relay.tenant");
        assert!(problem.contains("client_credentials") && problem.contains(tenant), "{problem}");
    }
    let mut map = with_relay("client_credentials");
    map["CONNECTORS"]["relay"]["tenant"] = json!("c0ffee00-1a2b-4c3d-8e9f-0123456789ab");
    assert!(read(&map).is_ok());
}

#[test]
fn app_token_settings_are_checked_and_named() {
    for (grant, field, value, setting) in [
        ("client_credentials", "scope", json!("https://outlook.office365.com/SMTP.SendAsApp"), "CONNECTORS.relay.scope"),
        ("client_credentials", "redirect_uris", json!(["http://localhost:8787/callback"]), "CONNECTORS.relay.redirect_uris"),
        ("client_credentials", "username", json!("relay@contoso.dev"), "CONNECTORS.relay.username"),
        ("client_credentials", "token_expiry_margin", json!(-1), "CONNECTORS.relay"),
        ("client_credentials", "token_expiry_margin", json!(100_000), "CONNECTORS.relay.token_expiry_margin"),
        ("implicit", "grant", json!("implicit"), "CONNECTORS.relay.grant"),
    ] {
        let mut map = with_relay(grant);
        map["CONNECTORS"]["relay"][field] = value;
        assert_eq!(failing_setting(&map), setting, "{field}");
    }
    let mut map = with_relay("client_credentials");
    map.remove("RELAY_API_KEYS");
    assert_eq!(failing_setting(&map), "RELAY_API_KEYS");
    map.insert("RELAY_API_KEYS".into(), json!("too-short"));
    assert_eq!(failing_setting(&map), "RELAY_API_KEYS");
}

#[test]
fn password_grant_needs_a_username_and_the_password_secret() {
    let mut map = with_relay("password");
    map["CONNECTORS"]["relay"]["scope"] = json!("https://outlook.office.com/SMTP.Send");
    assert_eq!(failing_setting(&map), "CONNECTORS.relay.username");
    map["CONNECTORS"]["relay"]["username"] = json!("relay@contoso.dev");
    assert_eq!(failing_setting(&map), "RELAY_PASSWORD");
    map.insert("RELAY_PASSWORD".into(), json!("mailbox-pa55word"));
    map["CONNECTORS"]["relay"]["token_expiry_margin"] = json!(30);
    let config = read(&map).unwrap();
    let (relay, app) = config.app_connector("relay").unwrap();
    let AppGrant::Password(mailbox) = &app.grant else { panic!("not a password grant") };
    assert_eq!((mailbox.username.as_str(), relay.expiry_margin), ("relay@contoso.dev", 30));
    let debug = format!("{config:?}");
    assert!(!debug.contains("mailbox-pa55word") && !debug.contains(API_KEY) && !debug.contains("relay-s3cr3t"), "{debug}");
}

/// `settings()` plus connector `id` (`defaults` with `fields` over them) and its client secret.
fn with_connector(id: &str, mut connector: Value, fields: Value) -> serde_json::Map<String, Value> {
    let mut map = settings();
    for (field, value) in fields.as_object().unwrap() {
        connector[field] = value.clone();
    }
    map["CONNECTORS"][id] = connector;
    map.insert(format!("{}_CLIENT_SECRET", id.to_uppercase()), json!(format!("{id}-s3cr3t")));
    map
}

/// `settings()` plus a Zoom connector `zoom` with `fields` over its defaults.
fn with_zoom(fields: Value) -> serde_json::Map<String, Value> {
    let zoom = json!({
        "provider": "zoom", "client_id": "zoom-client", "scope": "meeting:write",
        "redirect_uris": ["http://localhost:8787/callback"]
    });
    with_connector("zoom", zoom, fields)
}

#[test]
fn zoom_uses_its_endpoints_or_a_base_url_and_http_basic() {
    let config = read(&with_zoom(json!({}))).unwrap();
    let zoom = config.connector("zoom").unwrap();
    assert_eq!(
        (public(&config, "zoom").authorize_url.as_str(), zoom.provider.token_url().as_str()),
        ("https://zoom.us/oauth/authorize", "https://zoom.us/oauth/token")
    );
    assert!(matches!(zoom.credential, Credential::Secret { in_body: false, .. }));
    let config = read(&with_zoom(json!({ "authority": "http://127.0.0.1:9010", "client_auth": "client_secret_basic" }))).unwrap();
    assert_eq!(config.connector("zoom").unwrap().provider.token_url(), "http://127.0.0.1:9010/oauth/token");
    for (field, value) in [("client_auth", json!("client_secret_post")), ("client_auth", json!("private_key_jwt")), ("authority", json!("http://zoom.example"))]
    {
        assert_eq!(failing_setting(&with_zoom(json!({ field: value }))), format!("CONNECTORS.zoom.{field}"), "{value}");
    }
}

/// `settings()` plus a generic connector `idp` with `fields` over its defaults.
fn with_generic(fields: Value) -> serde_json::Map<String, Value> {
    let idp = json!({
        "provider": "generic", "authorize_url": "https://idp.example/authorize", "token_url": "https://idp.example/token",
        "client_id": "idp-client", "scope": "openid offline_access", "redirect_uris": ["http://localhost:8787/callback"]
    });
    with_connector("idp", idp, fields)
}

#[test]
fn generic_revocation_url_is_optional_and_an_endpoint_like_the_others() {
    let revocation_url = |map| read(&map).unwrap().connector("idp").unwrap().provider.revocation_url();
    assert_eq!(revocation_url(with_generic(json!({}))), None);
    for ok in ["https://idp.example/oauth/revoke", "http://127.0.0.1:9010/revoke"] {
        assert_eq!(revocation_url(with_generic(json!({ "revocation_url": ok }))).as_deref(), Some(ok));
    }
    for bad in ["https://idp.example/revoke?x=1", "http://idp.example/revoke", "not a url"] {
        assert_eq!(failing_setting(&with_generic(json!({ "revocation_url": bad }))), "CONNECTORS.idp.revocation_url", "{bad}");
    }
}

#[test]
fn revocation_url_is_refused_where_the_provider_decides_it() {
    let mut map = with_zoom(json!({ "revocation_url": "https://zoom.us/oauth/revoke" }));
    assert_eq!(failing_setting(&map), "CONNECTORS.zoom.revocation_url");
    map["CONNECTORS"]["zoom"].as_object_mut().unwrap().remove("revocation_url");
    map["CONNECTORS"]["teams"]["revocation_url"] = json!("https://login.microsoftonline.com/common/oauth2/v2.0/logout");
    assert_eq!(failing_setting(&map), "CONNECTORS.teams.revocation_url");
    let config = read(&with_zoom(json!({}))).unwrap();
    assert_eq!(config.connector("zoom").unwrap().provider.revocation_url().as_deref(), Some("https://zoom.us/oauth/revoke"));
    assert_eq!(config.connector("teams").unwrap().provider.revocation_url(), None);
}

#[test]
fn admin_consent_url_is_offered_for_microsoft_tenants_with_admins_only() {
    let config = read(&with_zoom(json!({}))).unwrap();
    assert_eq!(
        public(&config, "teams").admin_consent_url.unwrap(),
        "http://127.0.0.1:9010/organizations/v2.0/adminconsent?client_id=teams-client&scope=openid+profile+User.Read+offline_access\
         &redirect_uri=http%3A%2F%2Flocalhost%3A8787%2Fcallback&state=mailconnect-admin-consent"
    );
    assert_eq!(public(&config, "zoom").admin_consent_url, None);
    let mut map = settings();
    map["CONNECTORS"]["teams"]["tenant"] = json!("consumers");
    assert_eq!(public(&read(&map).unwrap(), "teams").admin_consent_url, None);
}

#[test]
fn connector_info_tells_the_browser_which_iss_to_expect_and_whether_it_is_always_sent() {
    let config = read(&with_zoom(json!({}))).unwrap();
    let teams = public(&config, "teams");
    assert_eq!(teams.issuer.as_deref(), Some("http://127.0.0.1:9010/{tenantid}/v2.0"), "common: any tenant of the configured authority");
    assert!(!teams.authorization_response_iss_parameter_supported, "Entra's metadata does not advertise it");
    let zoom = public(&config, "zoom");
    assert_eq!((zoom.issuer, zoom.authorization_response_iss_parameter_supported), (None, false));

    let mut map = settings();
    map["CONNECTORS"]["teams"]["authorization_response_iss_parameter_supported"] = json!(true);
    assert!(public(&read(&map).unwrap(), "teams").authorization_response_iss_parameter_supported, "the local stack's oidc-provider sends it");
    let idp = |fields| public(&read(&with_generic(fields)).unwrap(), "idp");
    let sends = idp(json!({ "issuer": "https://idp.example", "authorization_response_iss_parameter_supported": true }));
    assert_eq!((sends.issuer.as_deref(), sends.authorization_response_iss_parameter_supported), (Some("https://idp.example"), true));
    assert!(!idp(json!({ "issuer": "https://idp.example" })).authorization_response_iss_parameter_supported);
}

#[test]
fn iss_always_sent_without_an_issuer_is_refused() {
    let setting = "CONNECTORS.idp.authorization_response_iss_parameter_supported";
    assert_eq!(failing_setting(&with_generic(json!({ "authorization_response_iss_parameter_supported": true }))), setting);
    assert_eq!(failing_setting(&with_generic(json!({ "authorization_response_iss_parameter_supported": "yes" }))), "CONNECTORS.idp");
}

#[test]
fn debug_output_hides_keys_and_secrets() {
    let config = read(&settings()).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cr3t") && !debug.contains("0123456789abcdef"), "{debug}");
}

#[test]
fn an_unknown_provider_grant_or_client_auth_names_its_field() {
    for (field, value) in [("provider", "okta"), ("grant", "implicit"), ("client_auth", "tls_client_auth")] {
        let mut map = settings();
        map["CONNECTORS"]["teams"][field] = json!(value);
        assert_eq!(failing_setting(&map), format!("CONNECTORS.teams.{field}"), "{value}");
    }
}

/// The dev settings with user binding: two ticket keys, newest first, and the back end's key.
fn with_users() -> serde_json::Map<String, Value> {
    let mut map = settings();
    map.insert("USER_TICKET_KEYS".into(), json!(format!("new:{} old:{}", base64url(&[1; 32]), base64url(&[2; 32]))));
    map.insert("USER_ID_KEY".into(), json!("u".repeat(32)));
    map.insert("BACKEND_API_KEYS".into(), json!(API_KEY));
    map
}

#[test]
fn user_binding_reads_ticket_keys_newest_first_and_is_off_without_them() {
    let config = read(&with_users()).unwrap();
    let users = config.users.as_ref().unwrap();
    assert_eq!(users.ticket_keys.iter().map(|k| (k.kid.as_str(), k.public_key[0])).collect::<Vec<_>>(), [("new", 1), ("old", 2)]);
    assert!(users.backend_keys.as_ref().unwrap().verify(API_KEY).unwrap());
    assert!(read(&settings()).unwrap().users.is_none());
}

#[test]
fn malformed_user_binding_settings_name_the_setting() {
    let cases: [(&str, Value, &str); 6] = [
        ("USER_TICKET_KEYS", json!(format!("new{}", base64url(&[1; 32]))), "USER_TICKET_KEYS"),
        ("USER_TICKET_KEYS", json!(format!("new:{}", base64url(&[1; 31]))), "USER_TICKET_KEYS"),
        ("USER_TICKET_KEYS", json!(format!("k:{0} k:{0}", base64url(&[1; 32]))), "USER_TICKET_KEYS"),
        ("USER_TICKET_KEYS", json!(format!("new:{}=", base64url(&[1; 32]))), "USER_TICKET_KEYS"),
        ("USER_ID_KEY", json!("short"), "USER_ID_KEY"),
        ("BACKEND_API_KEYS", json!("short"), "BACKEND_API_KEYS"),
    ];
    for (name, value, setting) in cases {
        let mut map = with_users();
        map.insert(name.into(), value.clone());
        assert_eq!(failing_setting(&map), setting, "{name} = {value}");
    }
    let mut map = with_users();
    map.remove("USER_ID_KEY");
    assert_eq!(failing_setting(&map), "USER_ID_KEY", "user binding needs the key that names users' objects");
    let mut map = settings();
    map.insert("BACKEND_API_KEYS".into(), json!(API_KEY));
    assert_eq!(failing_setting(&map), "BACKEND_API_KEYS", "the users routes need user binding");
}

#[test]
fn backend_access_needs_the_back_ends_keys_and_a_browser_connector() {
    let with_access = |mut map: serde_json::Map<String, Value>| {
        map["CONNECTORS"]["teams"]["backend_access"] = json!(true);
        map
    };
    let config = read(&with_access(with_users())).unwrap();
    assert!(config.browser("teams").unwrap().1.backend_access);
    let mut map = with_access(with_users());
    map.remove("BACKEND_API_KEYS");
    assert_eq!(failing_setting(&map), "CONNECTORS.teams.backend_access");
    assert_eq!(failing_setting(&with_access(settings())), "CONNECTORS.teams.backend_access");
    let mut map = with_relay("client_credentials");
    map["CONNECTORS"]["relay"]["backend_access"] = json!(true);
    assert_eq!(failing_setting(&map), "CONNECTORS.relay.backend_access");
}
