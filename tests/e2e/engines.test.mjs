// End-to-end in the engine BROWSER names (chromium, the default; firefox; webkit), against the
// local stack in its https mode: WebKit keeps no `Secure` cookie from http://localhost, and the
// edge's session cookie is the production one (__Host-, Secure, HttpOnly, SameSite=Strict).
// scripts/test.sh runs this file once per engine.
// Run: BROWSER=webkit node --test tests/e2e/engines.test.mjs
//      (needs scripts/build-web.sh and scripts/build-edge.sh first, and scripts/setup.sh's browsers)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../support/stack.mjs';
import { BROWSER, cannotBlockPopups, launchBrowser, waitForUrl } from '../support/browsers.mjs';

const TEST = { timeout: 120_000 };
const card = (id = 'teams') => `.ext[data-connector="${id}"]`;

let stack;
let browser;

async function openApp(session, path = '/?view=settings') {
  const page = await session.open(`${stack.url}${path}`);
  await page.waitFor('#app[data-ready="true"]');
  return page;
}

async function connectViaPopup(page, decision = '#accept') {
  const popup = await page.clickForPopup(`${card()} .switch`);
  await popup.click('#signin');
  await popup.click(decision);
  await popup.waitClosed();
}

/** Clicks "Call API" (Graph's /me with the token, on the OAuth server's https origin). */
async function callApi(page) {
  await page.click(`${card()} .call-api`);
  await page.waitFor(`${card()} .api-result[data-ok]`);
  return { ok: (await page.attribute(`${card()} .api-result`, 'data-ok')) === 'true', text: await page.text(`${card()} .api-result`) };
}

/** Runs `fn` with a fresh browser session (its own cookies and storage) and always closes it. */
async function inSession(fn) {
  const session = await browser.newSession();
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
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
    await inSession(async (session) => {
      const a = await openApp(session);
      await connectViaPopup(a);
      await a.waitFor(`${card()}[data-state="connected"]`);
      assert.equal(await a.text(`${card()} .account-name`), 'Ada Lovelace');
      const api = await callApi(a);
      assert.ok(api.ok, api.text);

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
    });
  });

  test('denying consent shows the consent action and leaves the extension disconnected', TEST, async () => {
    stack.oauth.reset();
    await inSession(async (session) => {
      const page = await openApp(session);
      await connectViaPopup(page, '#deny');
      await page.waitFor(`${card()} .error[data-action="consent"]`);
      assert.equal(await page.attribute(`${card()} .error`, 'data-code'), 'access_denied');
      assert.equal(await page.attribute(card(), 'data-state'), 'disconnected');
    });
  });

  test('the app page served with Cross-Origin-Opener-Policy: same-origin still connects', TEST, async () => {
    stack.oauth.reset();
    await inSession(async (session) => {
      const page = await openApp(session, '/coop.html?view=settings');
      await connectViaPopup(page);
      await page.waitFor(`${card()}[data-state="connected"]`);
      const api = await callApi(page);
      assert.ok(api.ok, api.text);
    });
  });

  test('once the short-lived access token expires, the next API call refreshes it without a popup', TEST, async () => {
    stack.oauth.reset();
    stack.oauth.setMode({ accessTokenTtl: 4 });
    try {
      await inSession(async (session) => {
        const page = await openApp(session);
        await connectViaPopup(page);
        await page.waitFor(`${card()} .lifetime[data-seconds="0"]`, { timeout: 15_000 });
        const before = stack.oauth.counters().token.by_grant_type.refresh_token ?? 0;
        const api = await callApi(page);
        assert.ok(api.ok, api.text);
        assert.ok(stack.oauth.counters().token.by_grant_type.refresh_token > before, 'the edge refreshed upstream');
        assert.equal(await page.attribute(card(), 'data-state'), 'connected');
      });
    } finally {
      stack.oauth.reset();
    }
  });

  test('with the popup blocked, connect falls back to a redirect and returns to the deep link', { ...TEST, skip: cannotBlockPopups() ?? false }, async () => {
    stack.oauth.reset();
    const blocking = await launchBrowser({ insecureCerts: true, blockPopups: true });
    try {
      const session = await blocking.newSession();
      // Arriving on a deep link that asks to connect: no click, so the browser blocks window.open.
      const page = await session.open(`${stack.url}/?view=calendar&event=42&connect=teams`);
      await waitForUrl(page, (url) => url.startsWith(`${stack.oauth.url}/login/`));
      await page.click('#signin');
      await page.click('#accept');
      await waitForUrl(page, (url) => url === `${stack.url}/?view=calendar&event=42`);
      await page.waitFor('#app[data-ready="true"]');
      await page.waitFor('.pill[data-connector="teams"][data-state="connected"]');
      assert.equal(await page.attribute('.event[data-event="42"]', 'aria-current'), 'true');
      assert.equal(stack.oauth.counters().token.by_grant_type.authorization_code, 1);
    } finally {
      await blocking.close();
    }
  });
});
