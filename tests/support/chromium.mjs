// Launches the system Chromium (/usr/bin/chromium) through playwright-core, the way this machine
// allows: as root in a container, offline, never downloading a browser. Playwright gives each
// launch a throw-away profile and removes it on close().

import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Resolves to a Playwright Browser. `blockPopups: true` drops Playwright's
 * `--disable-popup-blocking`, so a `window.open` without a user gesture is blocked as in a
 * browser people use.
 */
export function launchChromium({ blockPopups = false } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    ignoreDefaultArgs: blockPopups ? ['--disable-popup-blocking'] : [],
  });
}

/**
 * Signs in as the prefilled dev user on the local OAuth server's login page (tests/support/
 * oauth-server.mjs), in a popup or a redirected tab, and answers its consent page. `page` is a
 * Playwright Page or a page of browsers.mjs (any engine).
 */
export async function signIn(page, decision = 'accept') {
  await page.click('#signin');
  await page.click(decision === 'accept' ? '#accept' : '#deny');
}
