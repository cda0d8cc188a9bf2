//! Small helpers over js-sys and web-sys shared by the flows: the window, plain JS objects read
//! and written through `Reflect`, timers as promises, storage that some privacy modes refuse.

use crate::error::{refused, Result};
use crate::prelude::*;
use core::future::Future;
use core::pin::Pin;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Storage, Window};

/// The module's own state, in a `static`. Sound only because the module runs on one thread: it
/// is built without atomics (no shared memory), so nothing can reach it from another thread.
/// (std's `thread_local!` says the same, but the module links no std: lib.rs says why.)
pub(crate) struct Local<T>(pub(crate) T);

// SAFETY: see `Local`; the crate does not compile with the `atomics` target feature.
#[cfg(not(target_feature = "atomics"))]
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    pub(crate) fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

/// The page's window. Every export that needs it runs in a page (links parsing does not call this).
pub(crate) fn window() -> Window {
    web_sys::window().expect_throw("mailconnect runs in a browser window")
}

/// `value[key]`, `undefined` when absent or unreadable.
pub(crate) fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `object[key] = value`.
pub(crate) fn set(object: &Object, key: &str, value: &JsValue) {
    // Cannot fail on a plain object.
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

/// A new plain object with these entries.
pub(crate) fn object(entries: &[(&str, &JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in entries {
        set(&o, k, v);
    }
    o
}

/// A plain object (not null, not an array).
pub(crate) fn is_plain(value: &JsValue) -> bool {
    value.is_object() && !Array::is_array(value)
}

/// `null` or `undefined`.
pub(crate) fn absent(value: &JsValue) -> bool {
    value.is_null() || value.is_undefined()
}

/// Whether every own key of `value` is one of `keys` (options objects: a typo is an error).
pub(crate) fn only_keys(value: &JsValue, keys: &[&str]) -> bool {
    is_plain(value) && Object::keys(value.unchecked_ref::<Object>()).iter().all(|k| k.as_string().is_some_and(|k| keys.contains(&k.as_str())))
}

/// `Date.now()`.
pub(crate) fn now() -> f64 {
    js_sys::Date::now()
}

/// Browsers keep timer delays in an int32: anything longer would fire at once.
pub(crate) fn delay(ms: f64) -> i32 {
    ms.min(i32::MAX as f64) as i32
}

/// Resolves after `ms` milliseconds.
pub(crate) async fn sleep(ms: i32) {
    let wait = Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(wait).await;
}

/// A promise and the functions that settle it.
pub(crate) fn deferred() -> (Promise, Function, Function) {
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let (resolve, reject) = settle.expect_throw("unreachable: the Promise executor runs at once");
    (promise, resolve, reject)
}

/// Calls `f(value)`, ignoring what it returns (a promise's resolve or reject).
pub(crate) fn call(f: &Function, value: &JsValue) {
    let _ = f.call1(&JsValue::UNDEFINED, value);
}

/// `localStorage`; `None` where the browser refuses it.
pub(crate) fn local_storage() -> Option<Storage> {
    window().local_storage().ok().flatten()
}

/// `sessionStorage`, or `browser_unsupported`.
pub(crate) fn session_storage() -> Result<Storage> {
    window().session_storage().ok().flatten().ok_or_else(|| refused("sessionStorage"))
}

/// This page's origin.
pub(crate) fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// The origin of an absolute URL, `None` when it is none.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    web_sys::Url::new(url).ok().map(|u| u.origin())
}

/// The `Promise` of `future`. Boxed, so every export shares one instantiation of the executor's
/// glue instead of one per future type.
pub(crate) fn promise(future: impl Future<Output = Result<JsValue>> + 'static) -> Promise {
    let future: Pin<Box<dyn Future<Output = Result<JsValue>>>> = Box::pin(future);
    future_to_promise(future)
}
