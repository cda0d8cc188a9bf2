// End-to-end in the engine BROWSER names (chromium, the default; firefox; webkit), against the
// local stack in its https mode: WebKit keeps no `Secure` cookie from http://localhost, and the
// edge's session cookie is the production one (__Host-, Secure, HttpOnly, SameSite=Strict).
// scripts/test.sh runs this file once per engine.
// Run: BROWSER=webkit node --test tests/e2e/engines.test.mjs
//      (needs scripts/build-web.sh and scripts/build-edge.sh first, and scripts/setup.sh's browsers)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../support/stack.mjs';
import { BROWSER, launchBrowser } from '../support/browsers.mjs';

const TEST = { timeout: 120_000 };
const card = (id = 'teams') => `.ext[data-connector="${id}"]`;

let stack;
let browser;

async function openApp(session, path = '/?view=settings') {
  const page = await session.open(`${stack.url}${path}`);
  await page.waitFor('#app[data-ready="true"]');
  return page;
}

describe(`the demo webmail over https in ${BROWSER}`, () => {
  before(async () => {
    [stack, browser] = await Promise.all([startStack({ https: true, accessTokenTtl: 3600 }), launchBrowser({ insecureCerts: true })]);
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop()]);
  });

  test('connecting in the popup keeps the session across a reload and in a second tab; disconnecting reaches both', TEST, async () => {
    stack.oauth.reset();
    const session = await browser.newSession();
    try {
      const a = await openApp(session);
      const popup = await a.clickForPopup(`${card()} .switch`);
      await popup.click('#signin');
      await popup.click('#accept');
      await popup.waitClosed();
      await a.waitFor(`${card()}[data-state="connected"]`);
      assert.equal(await a.text(`${card()} .account-name`), 'Ada Lovelace');

      // Only the edge's session cookie can say so after a reload: the token lives in memory.
      await a.reload();
      await a.waitFor('#app[data-ready="true"]');
      await a.waitFor(`${card()}[data-state="connected"]`);
      const b = await openApp(session);
      await b.waitFor(`${card()}[data-state="connected"]`);
      assert.equal(stack.oauth.counters().authorize, 1, 'one sign-in served the reload and the second tab');

      await a.click(`${card()} .disconnect`);
      await a.waitFor(`${card()}[data-state="disconnected"]`);
      await b.waitFor(`${card()}[data-state="disconnected"]`);
    } finally {
      await session.close();
    }
  });
});
