//! A session's lifetime: when it began and was last used, the alarm that ends it, and its end.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::ScheduledTime;

use super::Inner;
use crate::config::Config;
use crate::error::EdgeError;
use crate::grant::now;

/// When a session began and was last used, in seconds since the Unix epoch. Not secret.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    created: u64,
    seen: u64,
}

impl Meta {
    fn ends_at(self, config: &Config) -> u64 {
        (self.seen + config.session_idle).min(self.created + config.session_max)
    }
}

impl Inner {
    pub(super) async fn meta(&self) -> Result<Option<Meta>, EdgeError> {
        if let Some(meta) = self.meta.get() {
            return Ok(meta);
        }
        let meta = self.state.storage().get::<Meta>("meta").await?;
        self.meta.set(Some(meta));
        Ok(meta)
    }

    /// Fails with `SessionExpired` unless the session exists and is within both lifetimes;
    /// records the use, and deletes a session found expired.
    pub(super) async fn live(&self, config: &Config, now: u64) -> Result<(), EdgeError> {
        let Some(mut meta) = self.meta().await? else {
            return Err(EdgeError::SessionExpired);
        };
        if meta.ends_at(config) <= now {
            self.end().await?;
            return Err(EdgeError::SessionExpired);
        }
        // Writing on every request would cost a storage write per cached refresh; a coarse
        // "last seen" is enough for a lifetime measured in days.
        if now >= meta.seen + (config.session_idle / 10).min(60) {
            meta.seen = now;
            self.save(meta, config).await?;
        }
        Ok(())
    }

    pub(super) async fn begin(&self, config: &Config, now: u64) -> Result<(), EdgeError> {
        self.save(Meta { created: now, seen: now }, config).await
    }

    pub(super) async fn save(&self, meta: Meta, config: &Config) -> Result<(), EdgeError> {
        self.state.storage().put("meta", meta).await?;
        self.meta.set(Some(Some(meta)));
        self.schedule(meta, config).await
    }

    pub(super) async fn schedule(&self, meta: Meta, config: &Config) -> Result<(), EdgeError> {
        let at = js_sys::Date::new(&JsValue::from_f64(meta.ends_at(config) as f64 * 1000.0));
        Ok(self.state.storage().set_alarm(ScheduledTime::new(at)).await?)
    }

    /// The alarm: ends the session if it is over, else looks again when it would be. With broken
    /// settings it fails and keeps the data: fixing them must not cost every session.
    pub(super) async fn expire(&self) -> Result<(), EdgeError> {
        let config = Config::load(&self.env)?;
        match self.meta().await? {
            Some(meta) if meta.ends_at(&config) > now() => self.schedule(meta, &config).await,
            _ => self.end().await,
        }
    }

    /// Forgets everything: the session is over.
    pub(super) async fn end(&self) -> Result<(), EdgeError> {
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        self.meta.set(Some(None));
        self.grants.borrow_mut().clear();
        self.epoch.set(self.epoch.get() + 1);
        Ok(())
    }
}
