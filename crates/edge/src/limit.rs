//! Failures counted per key in fixed windows, for refusing a key that has used up its budget.
//!
//! # Security
//! The map is bounded: past [`FailureWindows::TRACKED`] keys, expired windows are dropped, and if
//! every window is still running, new keys share one count, so rotating addresses can neither
//! grow the map nor escape the limit.

use std::collections::HashMap;

/// Failures per key, at most `max` in each `window` seconds.
#[derive(Debug)]
pub(crate) struct FailureWindows {
    max: u32,
    window: u64,
    counts: HashMap<String, Window>,
}

/// One key's failures in its current window.
#[derive(Clone, Copy, Debug)]
struct Window {
    since: u64,
    count: u32,
}

impl FailureWindows {
    /// Keys tracked apart at most.
    const TRACKED: usize = 10_000;
    /// The count that keys beyond [`Self::TRACKED`] share (no client is named so).
    const OVERFLOW: &'static str = "\0overflow";

    pub(crate) fn new(max: u32, window: u64) -> Self {
        FailureWindows { max, window, counts: HashMap::new() }
    }

    /// Seconds until `key` may try again, if it has used up its failures in the current window.
    pub(crate) fn wait(&self, key: &str, now: u64) -> Option<u64> {
        let w = self.counts.get(self.slot(key))?;
        (w.count >= self.max && now < w.since + self.window).then(|| w.since + self.window - now)
    }

    /// Counts one failure of `key`.
    pub(crate) fn record(&mut self, key: &str, now: u64) {
        let window = self.window;
        if !self.counts.contains_key(key) && self.counts.len() >= Self::TRACKED {
            self.counts.retain(|_, w| now < w.since + window);
        }
        let w = self.counts.entry(self.slot(key).to_owned()).or_insert(Window { since: now, count: 0 });
        if now >= w.since + window {
            *w = Window { since: now, count: 0 };
        }
        w.count += 1;
    }

    /// Where `key` is counted: its own window while there is room, else the shared one.
    fn slot<'a>(&self, key: &'a str) -> &'a str {
        if self.counts.contains_key(key) || self.counts.len() < Self::TRACKED {
            key
        } else {
            Self::OVERFLOW
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_max_failures_until_its_window_ends() {
        let mut f = FailureWindows::new(3, 60);
        for _ in 0..3 {
            assert_eq!(f.wait("a", 100), None);
            f.record("a", 100);
        }
        assert_eq!(f.wait("a", 110), Some(50));
        assert_eq!(f.wait("b", 110), None, "other keys are not affected");
        assert_eq!(f.wait("a", 160), None, "a new window starts");
        f.record("a", 160);
        assert_eq!(f.wait("a", 161), None, "the count starts again");
    }

    #[test]
    fn the_map_stays_bounded_keys_beyond_it_share_one_count_and_expired_windows_make_room() {
        let mut f = FailureWindows::new(1, 60);
        for i in 0..FailureWindows::TRACKED {
            f.record(&i.to_string(), 0);
        }
        f.record("new", 10);
        assert_eq!(f.counts.len(), FailureWindows::TRACKED + 1, "full of running windows: one shared count more");
        assert_eq!((f.wait("new", 10), f.wait("another", 10)), (Some(60), Some(60)), "keys beyond the bound are limited together");
        f.record("new", 60);
        assert_eq!(f.counts.len(), 2, "expired windows made room: the shared count and the new key");
        assert_eq!(f.wait("new", 61), Some(59));
    }
}
