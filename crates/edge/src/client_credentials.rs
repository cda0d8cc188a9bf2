//! App-only token grants for mail servers: client credentials (RFC 6749 §4.4) and, where a
//! connector explicitly enables it, the resource owner password grant (§4.3) for one service
//! mailbox.
//!
//! # Security
//! Both authenticate the Worker as the confidential client exactly as the user flows do
//! (`upstream::client` and `upstream::client_assertion`). The password grant's user name and
//! password come only from the connector's settings and secrets, never from a request; Microsoft
//! and RFC 9700 §2.4 discourage the grant, and it fails for accounts that need MFA.

use oauth2::{HttpRequest, ResourceOwnerPassword, ResourceOwnerUsername, Scope};

use crate::config::{Connector, Mailbox};
use crate::error::EdgeError;
use crate::upstream::{self, Grant};

/// A new app token for `connector`: the password grant for `mailbox` if it has one, else
/// client credentials.
pub(crate) async fn app_grant(connector: &Connector, mailbox: Option<&Mailbox>) -> Result<Grant, EdgeError> {
    let client = upstream::client(connector)?;
    let scopes = connector.scopes.iter().map(|s| Scope::new(s.as_str().to_owned()));
    let assertion = upstream::client_assertion(connector).await?;
    let timeout = connector.timeout;
    let http = |request: HttpRequest| upstream::send(request, timeout);
    let response = match mailbox {
        None => {
            let mut request = client.exchange_client_credentials().add_scopes(scopes);
            for (name, value) in assertion {
                request = request.add_extra_param(name, value);
            }
            request.request_async(&http).await
        }
        Some(mailbox) => {
            let username = ResourceOwnerUsername::new(mailbox.username.clone());
            let password = ResourceOwnerPassword::new(mailbox.password.expose().to_owned());
            let mut request = client.exchange_password(&username, &password).add_scopes(scopes);
            for (name, value) in assertion {
                request = request.add_extra_param(name, value);
            }
            request.request_async(&http).await
        }
    }
    .map_err(upstream::token_error)?;
    Ok(upstream::grant(&response, connector, None, upstream::now()))
}
