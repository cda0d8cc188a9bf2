// What the tests can see of the browser module's popup watcher (crates/web/src/popup.rs): its
// busy marker in localStorage, written when the popup opens and renewed at most every 1.25 s
// while the window is open.

/** In the page: the busy marker when it is not `seen` (`''`: any marker), else false. */
export const busyMarkerOtherThan = (seen) => {
  const marker = Object.keys(localStorage).filter((k) => k.startsWith('mailconnect:busy:')).map((k) => localStorage.getItem(k)).join();
  return marker !== seen && marker;
};

/**
 * Resolves once the watcher has seen its popup at the provider for over a second, which it needs
 * before it takes a closed window for one the user closed (and not one that COOP severed): two
 * renewals of the marker after the provider's page loaded. `waitUntil(fn, arg)` waits until `fn`
 * holds in `page` (Playwright's `waitForFunction`, or tests/support/browsers.mjs's `waitUntil`).
 */
export async function seenAtProvider(page, waitUntil) {
  for (let renewals = 0; renewals < 2; renewals++) await waitUntil(busyMarkerOtherThan, await page.evaluate(busyMarkerOtherThan, ''));
}
