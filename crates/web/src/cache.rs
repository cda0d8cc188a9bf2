//! The access token: in memory only, refreshed ahead of expiry, shared by the origin's tabs.
//!
//! # Across tabs
//! A refresh runs under the Web Lock `mailconnect:{edge}:{connector}`. The tab that refreshes
//! posts the token on the `BroadcastChannel` of the same name and keeps the lock [`LINGER_MS`]
//! longer, so the message reaches the tabs queued for the lock before their turn: they find the
//! token in memory and do not refresh again. Disconnecting posts `null`, which
//! clears every tab's memory. Messages are `{token: TokenInfo | null}`.
//!
//! # Security
//! Nothing is written to storage: a reloaded tab asks the edge again, whose session cookie is
//! `HttpOnly`. A `BroadcastChannel` reaches only same-origin documents of this browser profile.

use crate::dom::{now, with_lock, EventListener};
use crate::edge_client::EdgeClient;
use crate::error::WebError;
use crate::TokenInfo;
use mailconnect_core::contract::TokenResponse;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

/// How long the lock outlives a refresh: far more than a message between tabs takes.
const LINGER_MS: u32 = 100;

/// What tabs tell each other: a fresh token, or `None` after a disconnect.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    token: Option<TokenInfo>,
}

/// One connector's access token in this tab.
#[derive(Debug)]
pub(crate) struct TokenCache {
    edge: EdgeClient,
    margin_ms: f64,
    name: String,
    memory: Rc<RefCell<Option<TokenInfo>>>,
    channel: BroadcastChannel,
    _listener: EventListener,
}

impl TokenCache {
    /// Refreshes tokens through `edge` when they have less than `margin_ms` left.
    pub(crate) fn new(edge: EdgeClient, margin_ms: f64) -> Result<Self, WebError> {
        let name = ["mailconnect:", &edge.key()].concat();
        let channel = BroadcastChannel::new(&name).map_err(|_| WebError::Browser("BroadcastChannel"))?;
        let memory = Rc::new(RefCell::new(None));
        let listener = {
            let memory = memory.clone();
            EventListener::new(&channel, "message", move |event| {
                if let Ok(Message { token }) = crate::de::from_js(event.unchecked_ref::<MessageEvent>().data()) {
                    *memory.borrow_mut() = token;
                }
            })
        };
        Ok(TokenCache { edge, margin_ms, name, memory, channel, _listener: listener })
    }

    /// The token in memory, if it outlives the margin.
    fn current(&self) -> Option<TokenInfo> {
        self.memory.borrow().as_ref().filter(|t| t.expires_at - self.margin_ms > now()).cloned()
    }

    /// A token valid for at least the margin: from memory, from another tab's refresh, or from
    /// the edge.
    pub(crate) async fn access_token(&self) -> Result<TokenInfo, WebError> {
        if let Some(token) = self.current() {
            return Ok(token);
        }
        with_lock(&self.name, LINGER_MS, async {
            // Another tab may have refreshed while this one waited for the lock.
            if let Some(token) = self.current() {
                return Ok(token);
            }
            Ok(self.store(self.edge.refresh().await?))
        })
        .await
    }

    /// Keeps a token from the edge and shares it with the other tabs.
    pub(crate) fn store(&self, response: TokenResponse) -> TokenInfo {
        let token = TokenInfo::new(response, now());
        *self.memory.borrow_mut() = Some(token.clone());
        self.post(Some(token.clone()));
        token
    }

    /// Ends the edge session for this connector and forgets the token in every tab.
    pub(crate) async fn disconnect(&self) -> Result<(), WebError> {
        self.edge.disconnect().await?;
        *self.memory.borrow_mut() = None;
        self.post(None);
        Ok(())
    }

    fn post(&self, token: Option<TokenInfo>) {
        let message = Message { token }.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect_throw("unreachable: Message serializes");
        // A closed channel (after free()) has nobody left to tell.
        let _ = self.channel.post_message(&message);
    }
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        self.channel.close();
    }
}
