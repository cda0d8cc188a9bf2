// End-to-end: the demo webmail (www/) with the mailconnect npm package, the edge Worker in
// workerd and the local Entra-like OAuth server, driven in Chromium. One stack for the file;
// every test has fresh browser contexts (cookies, storage), and everything is stopped at the end.
// Run: node --test tests/e2e/   (needs scripts/build-web.sh and scripts/build-edge.sh first)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO, startStack } from '../support/stack.mjs';
import { inContext, launchChromium, signIn } from '../support/chromium.mjs';

const ARTIFACTS = join(REPO, 'artifacts');
const TEST = { timeout: 90_000 };

let stack;
let browser;
let attacker;

const card = (id = 'teams') => `.ext[data-connector="${id}"]`;

async function openApp(context, path = '/?view=settings') {
  const page = await context.newPage();
  await page.goto(`${stack.url}${path}`);
  await page.waitForSelector('#app[data-ready="true"]');
  return page;
}

/** Clicks the Connect toggle (a user gesture) and resolves to the sign-in window. */
async function startConnect(page, id = 'teams') {
  const popup = page.waitForEvent('popup');
  await page.click(`${card(id)} .switch`);
  return popup;
}

async function connectViaPopup(page, id = 'teams') {
  const popup = await startConnect(page, id);
  const closed = popup.waitForEvent('close');
  await signIn(popup);
  await closed;
  await page.waitForSelector(`${card(id)}[data-state="connected"]`);
}

async function lifetimeSeconds(page, id = 'teams') {
  return Number(await page.getAttribute(`${card(id)} .lifetime`, 'data-seconds'));
}

async function callApi(page, id = 'teams') {
  await page.click(`${card(id)} .call-api`);
  const result = page.locator(`${card(id)} .api-result[data-ok]`);
  await result.waitFor();
  return { ok: (await result.getAttribute('data-ok')) === 'true', text: await result.textContent() };
}

/** A page on another site (127.0.0.1 is not localhost's site) for the cross-origin attacks. */
async function startAttacker() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>attacker</title><form id="csrf" method="post" enctype="text/plain" target="sink"><input name="{}" value=""></form><iframe name="sink"></iframe>');
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    stop: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(ok);
    }),
  };
}

describe('demo webmail end to end', () => {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    [stack, browser, attacker] = await Promise.all([startStack({ accessTokenTtl: 3600 }), launchChromium(), startAttacker()]);
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop(), attacker?.stop()]);
  });

  test('1. connecting through the popup shows the account, and the API call with the token succeeds', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      const page = await openApp(context);
      await connectViaPopup(page);
      assert.equal(await page.textContent(`${card()} .account-name`), 'Ada Lovelace');
      assert.equal(await page.textContent(`${card()} .account-username`), 'ada@contoso.dev');
      assert.ok(await lifetimeSeconds(page) > 3000, 'the token lifetime is shown');

      const api = await callApi(page);
      assert.ok(api.ok, api.text);
      assert.match(api.text, /→ 200\nAda Lovelace <ada@contoso\.dev>/);
      await page.screenshot({ path: join(ARTIFACTS, 'e2e-connected.png'), fullPage: true });

      // The code went to the provider from the edge, as a confidential client without Origin.
      const redemption = stack.oauth.requests().find((r) => r.grant_type === 'authorization_code');
      assert.deepEqual([redemption.status, redemption.auth_method, redemption.origin], [200, 'client_secret_basic', null]);
    });
  });

  test('2. after a reload the tab is still connected (edge session) and gets a token without a popup', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      const page = await openApp(context);
      await connectViaPopup(page);
      let popups = 0;
      page.on('popup', () => { popups += 1; });

      await page.reload();
      await page.waitForSelector('#app[data-ready="true"]');
      await page.waitForSelector(`${card()}[data-state="connected"]`);
      assert.equal(await page.textContent(`${card()} .account-name`), 'Ada Lovelace');
      assert.ok(await lifetimeSeconds(page) > 3000, 'the reloaded tab holds a token again');
      assert.ok((await callApi(page)).ok);
      assert.equal(popups, 0);
      assert.equal(stack.oauth.counters().authorize, 1, 'no second authorization');
    });
  });

  test('3. once the short-lived access token expires, the next API call refreshes it transparently', TEST, async () => {
    stack.oauth.reset();
    stack.oauth.setMode({ accessTokenTtl: 4 });
    const context = await browser.newContext();
    try {
      const page = await openApp(context);
      await connectViaPopup(page);
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.seconds === '0', `${card()} .lifetime`, { timeout: 10_000 });
      const before = stack.oauth.counters().token.by_grant_type.refresh_token ?? 0;
      let popups = 0;
      page.on('popup', () => { popups += 1; });

      const api = await callApi(page);
      assert.ok(api.ok, api.text);
      assert.ok(stack.oauth.counters().token.by_grant_type.refresh_token > before, 'the edge refreshed upstream');
      assert.equal(popups, 0);
      assert.equal(await page.getAttribute(`${card()}`, 'data-state'), 'connected');
    } finally {
      await context.close();
      stack.oauth.reset();
    }
  });

  test('4. two tabs needing a token at once cause exactly one upstream refresh', TEST, async () => {
    // 65 s tokens: stale for the module (60 s margin) after 5 s, and for the edge (300 s margin) at once.
    stack.oauth.reset();
    stack.oauth.setMode({ accessTokenTtl: 65 });
    const context = await browser.newContext();
    try {
      const a = await openApp(context);
      await connectViaPopup(a);
      const b = await openApp(context);
      await b.waitForSelector(`${card()}[data-state="connected"]`);
      // Both tabs now share the newest token; wait until it is inside the module's margin.
      await b.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.seconds) < 59, `${card()} .lifetime`, { timeout: 20_000 });
      await sleep(1000);

      stack.oauth.reset();
      stack.oauth.setMode({ accessTokenTtl: 65 });
      const [ra, rb] = await Promise.all([callApi(a), callApi(b)]);
      assert.ok(ra.ok && rb.ok, `${ra.text}\n${rb.text}`);
      assert.equal(stack.oauth.counters().token.by_grant_type.refresh_token, 1);
    } finally {
      await context.close();
      stack.oauth.reset();
    }
  });

  test('5. with the popup blocked, connect falls back to a redirect and returns to the deep link', TEST, async () => {
    stack.oauth.reset();
    const blocking = await launchChromium({ blockPopups: true });
    try {
      const context = await blocking.newContext();
      let pages = 0;
      context.on('page', () => { pages += 1; });
      const page = await context.newPage();
      // Arriving on a deep link that asks to connect: no click, so the browser blocks window.open.
      await page.goto(`${stack.url}/?view=calendar&event=42&connect=teams`);
      await page.waitForURL(`${stack.oauth.url}/login/**`);
      await signIn(page);
      await page.waitForURL(`${stack.url}/?view=calendar&event=42`);
      await page.waitForSelector('#app[data-ready="true"]');
      await page.waitForSelector('.pill[data-connector="teams"][data-state="connected"]');
      assert.equal(await page.getAttribute('.event[data-event="42"]', 'aria-current'), 'true');
      assert.equal(pages, 1, 'no popup window was opened');
      assert.equal(stack.oauth.counters().token.by_grant_type.authorization_code, 1);
    } finally {
      await blocking.close();
    }
  });

  test('6. denying consent shows the consent action; closing the sign-in window gives popup_closed', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      const page = await openApp(context);
      const popup = await startConnect(page);
      await signIn(popup, 'deny');
      const error = page.locator(`${card()} .error[data-action="consent"]`);
      await error.waitFor();
      assert.equal(await error.getAttribute('data-code'), 'access_denied');
      // The action's words link to the edge's admin consent URL for this connector.
      const consentLink = error.locator('.error-admin-consent');
      assert.equal(await consentLink.textContent(), 'Ask your admin to grant consent');
      assert.ok(await consentLink.isVisible());
      const info = await page.evaluate(() => fetch('/oauth/connectors/teams').then((r) => r.json()));
      assert.match(info.admin_consent_url, /\/organizations\/v2\.0\/adminconsent\?client_id=/);
      assert.equal(await consentLink.getAttribute('href'), info.admin_consent_url);
      assert.match(await error.locator('.error-code').textContent(), /AADSTS65004/);
      assert.equal(await page.getAttribute(card(), 'data-state'), 'disconnected');

      const second = await startConnect(page);
      await second.waitForSelector('#accept');
      await sleep(600); // let the module see the window on the provider's origin first
      await second.close();
      await page.waitForSelector(`${card()} .error[data-code="popup_closed"]`);
      assert.equal(await page.getAttribute(card(), 'data-state'), 'disconnected');
      assert.equal(await page.isChecked(`${card()} .connect-toggle`), false);
    });
  });

  test('7. the app page served with Cross-Origin-Opener-Policy: same-origin still connects', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      const page = await context.newPage();
      const response = await page.goto(`${stack.url}/coop.html?view=settings`);
      assert.equal(response.headers()['cross-origin-opener-policy'], 'same-origin');
      await page.waitForSelector('#app[data-ready="true"]');
      // COOP severs the popup from its opener, so wait for any new page, not a "popup".
      const signInPage = context.waitForEvent('page');
      await page.click(`${card()} .switch`);
      await signIn(await signInPage);
      await page.waitForSelector(`${card()}[data-state="connected"]`);
      assert.equal(await page.textContent(`${card()} .account-name`), 'Ada Lovelace');
      assert.ok((await callApi(page)).ok);
    });
  });

  test('8. disconnecting shows disconnected in both tabs, and a refresh then answers reconnect', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      const a = await openApp(context);
      await connectViaPopup(a);
      const b = await openApp(context);
      await b.waitForSelector(`${card()}[data-state="connected"]`);

      await a.click(`${card()} .disconnect`);
      await a.waitForSelector(`${card()}[data-state="disconnected"]`);
      await b.waitForSelector(`${card()}[data-state="disconnected"]`);
      assert.equal(await b.isChecked(`${card()} .connect-toggle`), false);

      // What any code in tab B gets when it asks for a token now.
      const outcome = await b.evaluate(async () => {
        const { default: init, Connector } = await import('/pkg/mailconnect.js');
        await init();
        const teams = await Connector.load({ edge: `${location.origin}/oauth`, connector: 'teams' });
        try {
          await teams.accessToken();
          return { ok: true };
        } catch (err) {
          return { code: err.code, action: err.action };
        }
      });
      assert.equal(outcome.action, 'reconnect', JSON.stringify(outcome));
    });
  });

  test('the Outlook mail extension connects with the certificate credential and its token passes the XOAUTH2 check', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      const page = await openApp(context);
      await connectViaPopup(page, 'outlook-mail');
      assert.equal(await page.textContent(`${card('outlook-mail')} .account-username`), 'ada@contoso.dev');
      const imap = await callApi(page, 'outlook-mail');
      assert.ok(imap.ok, imap.text);
      assert.match(imap.text, /S: A1 OK AUTHENTICATE completed\./);
      const redemption = stack.oauth.requests().find((r) => r.grant_type === 'authorization_code');
      assert.deepEqual([redemption.client_id, redemption.auth_method, redemption.status], [stack.connectors['outlook-mail'].client_id, 'private_key_jwt', 200]);
    });
  });

  test('9. another site cannot use the session cookie (CORS/CSRF), and its forged postMessage is ignored', TEST, async () => {
    stack.oauth.reset();
    await inContext(browser, async (context) => {
      // (a) The user is connected; a page on another site tries the edge API with the cookie.
      const app = await openApp(context);
      await connectViaPopup(app);
      const evil = await context.newPage();
      await evil.goto(attacker.url);
      const attempts = await evil.evaluate(async (edge) => {
        const json = { 'content-type': 'application/json', 'x-mailconnect': '1' };
        const outcome = (p) => p.then((r) => `answered ${r.type} ${r.status}`, (e) => `blocked: ${e.name}`);
        const results = {
          readSession: await outcome(fetch(`${edge}/session`, { credentials: 'include' })),
          refresh: await outcome(fetch(`${edge}/connectors/teams/refresh`, { method: 'POST', credentials: 'include', headers: json, body: '{}' })),
          simpleDisconnect: await outcome(fetch(`${edge}/connectors/teams/disconnect`, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' })),
        };
        const form = document.getElementById('csrf');
        form.action = `${edge}/connectors/teams/disconnect`;
        const loaded = new Promise((ok) => document.querySelector('iframe').addEventListener('load', ok, { once: true }));
        form.submit();
        await loaded;
        return results;
      }, stack.edge);
      assert.equal(attempts.readSession, 'blocked: TypeError');
      assert.equal(attempts.refresh, 'blocked: TypeError');
      assert.equal(attempts.simpleDisconnect, 'answered opaque 0');

      // The same requests with the real cookie but a foreign or no Origin are refused by the edge.
      const cookie = (await context.cookies(stack.url)).map((c) => `${c.name}=${c.value}`).join('; ');
      assert.match(cookie, /__Host-mailconnect-session=/);
      for (const origin of [attacker.url.slice(0, -1), undefined]) {
        const res = await fetch(`${stack.edge}/connectors/teams/refresh`, {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json', 'x-mailconnect': '1', ...(origin ? { origin } : {}) },
          body: '{}',
        });
        assert.equal(res.status, 403, `Origin ${origin}`);
        assert.ok((await res.json()).action);
      }

      // Still connected: neither the forms nor the scripts disconnected the user.
      await app.reload();
      await app.waitForSelector(`${card()}[data-state="connected"]`);
      assert.ok((await callApi(app)).ok);

      // (b) The other site opens the webmail and forges the callback message while it waits.
      const second = await browser.newContext();
      try {
        stack.oauth.reset();
        let authorizeUrl;
        second.on('request', (r) => {
          if (r.url().startsWith(stack.oauth.url) && r.url().includes('/oauth2/v2.0/authorize?')) authorizeUrl ??= r.url();
        });
        const opener = await second.newPage();
        await opener.goto(attacker.url);
        const appPage = second.waitForEvent('page');
        await opener.evaluate((url) => { window.app = window.open(url, 'webmail'); }, `${stack.url}/?view=settings`);
        const victim = await appPage;
        await victim.waitForSelector('#app[data-ready="true"]');
        const popup = await startConnect(victim);
        await popup.waitForSelector('#signin');
        // The real state, so only the origin check can stop the forgery.
        const state = new URL(authorizeUrl).searchParams.get('state');
        await opener.evaluate(({ state: s, issuer }) => {
          const params = `code=forged-code&state=${encodeURIComponent(s)}&iss=${encodeURIComponent(issuer)}`;
          window.app.postMessage({ type: 'mailconnect:callback', state: s, params }, '*');
        }, { state, issuer: stack.oauth.issuer });
        await sleep(1000);
        assert.equal(await victim.getAttribute(card(), 'data-state'), 'connecting', 'the forged message neither connected nor failed the sign-in');
        assert.equal(stack.oauth.counters().token.total, 0, 'no code was redeemed');

        const closed = popup.waitForEvent('close');
        await signIn(popup);
        await closed;
        await victim.waitForSelector(`${card()}[data-state="connected"]`);
        assert.equal(await victim.textContent(`${card()} .account-name`), 'Ada Lovelace');
        assert.equal(stack.oauth.counters().token.by_grant_type.authorization_code, 1);
      } finally {
        await second.close();
      }
    });
  });
});
