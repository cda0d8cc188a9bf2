//! One call at a time per key: concurrent callers share the call in progress.
//!
//! Both Durable Objects need this: a session refreshes each connector once however many tabs
//! ask (strict-rotation providers accept only the newest refresh token), and the app-token
//! object fetches a missing token once however many mail servers wait for it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use futures_util::future::{FutureExt, LocalBoxFuture, Shared};

/// A call in progress, which every caller awaits; each gets a clone of its output.
pub(crate) type Flight<T> = Shared<LocalBoxFuture<'static, T>>;

/// The calls in progress, by key.
pub(crate) struct SingleFlight<T: Clone> {
    flights: Rc<RefCell<HashMap<String, Flight<T>>>>,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight { flights: Rc::default() }
    }
}

impl<T: Clone + 'static> SingleFlight<T> {
    /// Joins the call in progress for `key`, or starts `call()` and registers it until it ends.
    /// Created and registered without an `await` in between, so no second caller can slip in.
    pub(crate) fn join<F: Future<Output = T> + 'static>(&self, key: &str, call: impl FnOnce() -> F) -> Flight<T> {
        if let Some(flight) = self.flights.borrow().get(key) {
            return flight.clone();
        }
        let (flights, key_owned, call) = (self.flights.clone(), key.to_owned(), call());
        let flight = async move {
            let output = call.await;
            flights.borrow_mut().remove(&key_owned);
            output
        }
        .boxed_local()
        .shared();
        self.flights.borrow_mut().insert(key.to_owned(), flight.clone());
        flight
    }

    /// The call in progress for `key`, if any.
    pub(crate) fn current(&self, key: &str) -> Option<Flight<T>> {
        self.flights.borrow().get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join;
    use std::cell::Cell;

    #[test]
    fn concurrent_callers_share_one_call_and_a_later_one_starts_another() {
        let single = SingleFlight::<u32>::default();
        let calls = Rc::new(Cell::new(0));
        let start = || {
            let calls = calls.clone();
            move || async move {
                calls.set(calls.get() + 1);
                calls.get()
            }
        };
        let (a, b) = (single.join("k", start()), single.join("k", start()));
        assert_eq!(futures_util::FutureExt::now_or_never(join(a, b)), Some((1, 1)));
        assert_eq!(calls.get(), 1);
        assert_eq!(single.join("k", start()).now_or_never(), Some(2), "the finished call was forgotten");
        assert_eq!(single.join("other", start()).now_or_never(), Some(3));
    }
}
