// End-to-end: the demo webmail (www/) with the mailconnect npm package, the edge Worker in
// workerd and the local Entra-like OAuth server, in the engine BROWSER names (chromium, the
// default; firefox; webkit: tests/support/browsers.mjs). The stack runs in its https mode: WebKit
// keeps no `Secure` cookie from http://localhost, and the edge's session cookie is the production
// one (__Host-, Secure, HttpOnly, SameSite=Strict). One stack for the file; every test has fresh
// browser sessions (cookies, storage), and everything is stopped at the end.
// Run: BROWSER=firefox node --test tests/e2e/webmail.test.mjs
//      (needs scripts/build-web.sh and scripts/build-edge.sh first, and scripts/setup.sh's browsers)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { REPO, startStack } from '../support/stack.mjs';
import { BROWSER, inSession, launchBrowser, waitForUrl } from '../support/browsers.mjs';
import { signIn } from '../support/chromium.mjs';
import { busyMarkerOtherThan, seenAtProvider } from '../support/popup-watch.mjs';

const ARTIFACTS = join(REPO, 'artifacts');
const TEST = { timeout: 120_000 };

let stack;
let browser;
let attacker;

const card = (id = 'teams') => `.ext[data-connector="${id}"]`;

async function openApp(session, path = '/?view=settings') {
  const page = await session.open(`${stack.url}${path}`);
  await page.waitFor('#app[data-ready="true"]');
  return page;
}

/** Connects `id` in the sign-in window its switch opens; the window closes itself once done. */
async function connectViaPopup(page, id = 'teams') {
  const popup = await page.clickForPopup(`${card(id)} .switch`);
  await signIn(popup);
  await page.waitFor(`${card(id)}[data-state="connected"]`);
  try {
    await popup.waitClosed();
  } catch (err) {
    const shows = await Promise.all([popup.url(), popup.attribute('#callback', 'data-state'), popup.attribute('#callback', 'data-code')]).catch((e) => e.message);
    throw new Error(`connected, but the sign-in window stayed open (${shows}): ${err.message}`);
  }
}

async function lifetimeSeconds(page, id = 'teams') {
  return Number(await page.attribute(`${card(id)} .lifetime`, 'data-seconds'));
}

async function callApi(page, id = 'teams') {
  await page.click(`${card(id)} .call-api`);
  await page.waitFor(`${card(id)} .api-result[data-ok]`);
  return { ok: (await page.attribute(`${card(id)} .api-result`, 'data-ok')) === 'true', text: await page.text(`${card(id)} .api-result`) };
}

/** POSTs to the stack's https edge from Node (not a browser), trusting the stack's CA. */
function postToEdge(url, headers, body) {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'POST', headers, ca: stack.tls.ca }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk) => { text += chunk; }).on('end', () => ok({ status: res.statusCode, body: JSON.parse(text) }));
    });
    req.on('error', fail).end(body);
  });
}

/**
 * A page on another site (127.0.0.1 is not localhost's site) for the cross-origin attacks. Its
 * button opens the URL in its data-url as window `app` (a click: every engine lets it open).
 */
async function startAttacker() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>attacker</title><form id="csrf" method="post" enctype="text/plain" target="sink"><input name="{}" value=""></form><iframe name="sink"></iframe>
<button id="open-app" onclick="window.app = window.open(this.dataset.url, 'webmail')">open</button>`);
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

describe(`demo webmail end to end in ${BROWSER}`, () => {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // Whatever started is kept for after() to stop, even when another part failed to start.
    const started = await Promise.allSettled([startStack({ https: true, accessTokenTtl: 3600 }), launchBrowser({ insecureCerts: true }), startAttacker()]);
    [stack, browser, attacker] = started.map((s) => s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop(), attacker?.stop()]);
  });

  test('1. connecting through the popup shows the account, and the API call with the token succeeds', TEST, async () => {
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      const page = await openApp(session);
      await connectViaPopup(page);
      assert.equal(await page.text(`${card()} .account-name`), 'Ada Lovelace');
      assert.equal(await page.text(`${card()} .account-username`), 'ada@contoso.dev');
      assert.ok(await lifetimeSeconds(page) > 3000, 'the token lifetime is shown');

      const api = await callApi(page);
      assert.ok(api.ok, api.text);
      assert.match(api.text, /→ 200\nAda Lovelace <ada@contoso\.dev>/);
      await page.screenshot(join(ARTIFACTS, `e2e-connected-${BROWSER}.png`));

      // The code went to the provider from the edge, as a confidential client without Origin.
      const redemption = stack.oauth.requests().find((r) => r.grant_type === 'authorization_code');
      assert.deepEqual([redemption.status, redemption.auth_method, redemption.origin], [200, 'client_secret_basic', null]);
    });
  });

  test('2. after a reload the tab is still connected (edge session) and gets a token without a popup', TEST, async () => {
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      const page = await openApp(session);
      await connectViaPopup(page);

      // Only the edge's session cookie can say so after a reload: the token lives in memory.
      await page.reload();
      await page.waitFor('#app[data-ready="true"]');
      await page.waitFor(`${card()}[data-state="connected"]`);
      assert.equal(await page.text(`${card()} .account-name`), 'Ada Lovelace');
      assert.ok(await lifetimeSeconds(page) > 3000, 'the reloaded tab holds a token again');
      assert.ok((await callApi(page)).ok);
      assert.equal(await session.windowCount(), 1, 'no popup window was opened');
      assert.equal(stack.oauth.counters().authorize, 1, 'no second authorization');
    });
  });

  test('3. once the short-lived access token expires, the next API call refreshes it transparently', TEST, async () => {
    stack.oauth.reset();
    stack.oauth.setMode({ accessTokenTtl: 4 });
    try {
      await inSession(browser, async (session) => {
        const page = await openApp(session);
        await connectViaPopup(page);
        await page.waitFor(`${card()} .lifetime[data-seconds="0"]`, { timeout: 10_000 });
        const before = stack.oauth.counters().token.by_grant_type.refresh_token ?? 0;

        const api = await callApi(page);
        assert.ok(api.ok, api.text);
        assert.ok(stack.oauth.counters().token.by_grant_type.refresh_token > before, 'the edge refreshed upstream');
        assert.equal(await session.windowCount(), 1, 'no popup window was opened');
        assert.equal(await page.attribute(card(), 'data-state'), 'connected');
      });
    } finally {
      stack.oauth.reset();
    }
  });

  test('4. two tabs needing a token at once cause exactly one upstream refresh', TEST, async () => {
    // 65 s tokens: stale for the module (60 s margin) after 5 s, and for the edge (300 s margin) at once.
    stack.oauth.reset();
    stack.oauth.setMode({ accessTokenTtl: 65 });
    try {
      await inSession(browser, async (session) => {
        const a = await openApp(session);
        await connectViaPopup(a);
        const b = await openApp(session);
        await b.waitFor(`${card()}[data-state="connected"]`);
        // Both tabs now share the newest token (tab B's, sent to A); wait until it is inside the
        // module's 60 s margin. The lifetime shown is rounded: 59 means less than 59.5 s.
        await b.waitUntil((sel) => Number(document.querySelector(sel)?.dataset.seconds) <= 59, `${card()} .lifetime`);

        stack.oauth.reset();
        stack.oauth.setMode({ accessTokenTtl: 65 });
        const [ra, rb] = await Promise.all([callApi(a), callApi(b)]);
        assert.ok(ra.ok && rb.ok, `${ra.text}\n${rb.text}`);
        assert.equal(stack.oauth.counters().token.by_grant_type.refresh_token, 1);
      });
    } finally {
      stack.oauth.reset();
    }
  });

  test('5. with the popup blocked, connect falls back to a redirect and returns to the deep link', TEST, async () => {
    stack.oauth.reset();
    const blocking = await launchBrowser({ insecureCerts: true, blockPopups: true });
    try {
      await inSession(blocking, async (session) => {
        // Arriving on a deep link that asks to connect: no click, so the browser blocks window.open.
        const page = await session.open(`${stack.url}/?view=calendar&event=42&connect=teams`);
        await waitForUrl(page, (url) => url.startsWith(`${stack.oauth.url}/login/`));
        await signIn(page);
        await waitForUrl(page, (url) => url === `${stack.url}/?view=calendar&event=42`);
        await page.waitFor('#app[data-ready="true"]');
        await page.waitFor('.pill[data-connector="teams"][data-state="connected"]');
        assert.equal(await page.attribute('.event[data-event="42"]', 'aria-current'), 'true');
        assert.equal(await session.windowCount(), 1, 'no popup window was opened');
        assert.equal(stack.oauth.counters().token.by_grant_type.authorization_code, 1);
      });
    } finally {
      await blocking.close();
    }
  });

  test('6. denying consent shows the consent action; back in the tab during a sign-in it stays connecting; closing the sign-in window gives popup_closed', TEST, async () => {
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      const page = await openApp(session);
      const popup = await page.clickForPopup(`${card()} .switch`);
      await signIn(popup, 'deny');
      const error = `${card()} .error[data-action="consent"]`;
      await page.waitFor(error);
      assert.equal(await page.attribute(error, 'data-code'), 'access_denied');
      // The action's words link to the edge's admin consent URL for this connector.
      const consentLink = `${error} .error-admin-consent`;
      assert.equal(await page.text(consentLink), 'Ask your admin to grant consent');
      assert.ok(await page.visible(consentLink));
      const info = await page.evaluate(() => fetch('/oauth/connectors/teams').then((r) => r.json()));
      assert.match(info.admin_consent_url, /\/organizations\/v2\.0\/adminconsent\?client_id=/);
      assert.equal(await page.attribute(consentLink, 'href'), info.admin_consent_url);
      assert.match(await page.text(`${error} .error-code`), /AADSTS65004/);
      assert.equal(await page.attribute(card(), 'data-state'), 'disconnected');

      const second = await page.clickForPopup(`${card()} .switch`);
      await second.waitFor('#accept');
      const marker = await page.evaluate(busyMarkerOtherThan, '');
      assert.ok(marker, 'the module marks a sign-in window open');
      // The person looks at the tab again (the demo then re-reads the edge session) mid-sign-in.
      const synced = Number(await page.attribute('#app', 'data-synced') ?? 0);
      await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      await page.waitUntil((n) => Number(document.getElementById('app').dataset.synced) > n, synced);
      assert.equal(await page.attribute(card(), 'data-state'), 'connecting');
      // The module tells a closed window from one that COOP severed by having seen it on the
      // provider's origin for a second.
      await seenAtProvider(page, (fn, arg) => page.waitUntil(fn, arg));
      await second.close();
      await page.waitFor(`${card()} .error[data-code="popup_closed"]`);
      assert.equal(await page.attribute(card(), 'data-state'), 'disconnected');
      assert.equal(await page.checked(`${card()} .connect-toggle`), false);
    });
  });

  test('7. the app page served with Cross-Origin-Opener-Policy: same-origin still connects', TEST, async () => {
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      const page = await openApp(session, '/coop.html?view=settings');
      const policy = await page.evaluate(() => fetch(location.href).then((r) => r.headers.get('cross-origin-opener-policy')));
      assert.equal(policy, 'same-origin');
      // COOP severs the popup from its opener: the sign-in window is any new window.
      await connectViaPopup(page);
      assert.equal(await page.text(`${card()} .account-name`), 'Ada Lovelace');
      assert.ok((await callApi(page)).ok);
    });
  });

  test('8. disconnecting shows disconnected in both tabs, and a refresh then answers reconnect', TEST, async () => {
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      const a = await openApp(session);
      await connectViaPopup(a);
      const b = await openApp(session);
      await b.waitFor(`${card()}[data-state="connected"]`);

      await a.click(`${card()} .disconnect`);
      await a.waitFor(`${card()}[data-state="disconnected"]`);
      await b.waitFor(`${card()}[data-state="disconnected"]`);
      assert.equal(await b.checked(`${card()} .connect-toggle`), false);

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
    await inSession(browser, async (session) => {
      const page = await openApp(session);
      await connectViaPopup(page, 'outlook-mail');
      assert.equal(await page.text(`${card('outlook-mail')} .account-username`), 'ada@contoso.dev');
      const imap = await callApi(page, 'outlook-mail');
      assert.ok(imap.ok, imap.text);
      assert.match(imap.text, /S: A1 OK AUTHENTICATE completed\./);
      const redemption = stack.oauth.requests().find((r) => r.grant_type === 'authorization_code');
      assert.deepEqual([redemption.client_id, redemption.auth_method, redemption.status], [stack.connectors['outlook-mail'].client_id, 'private_key_jwt', 200]);
    });
  });

  test("Zoom signs in through its own callback page, /callback-zoom, not the Microsoft connectors' /callback", TEST, async () => {
    stack.oauth.reset();
    const zoomCallback = `${stack.url}/callback-zoom`;
    assert.deepEqual(stack.connectors.zoom.redirect_uris, [zoomCallback]);
    assert.ok(!stack.connectors.teams.redirect_uris.includes(zoomCallback));
    await inSession(browser, async (session) => {
      const page = await openApp(session);
      // The callback page itself, at Zoom's address: no redirect (the code would travel on), not cached.
      const served = await page.evaluate(() => fetch('/callback-zoom').then(async (r) => ({ status: r.status, url: r.url, cache: r.headers.get('cache-control'), page: (await r.text()).includes('handleCallback') })));
      assert.deepEqual(served, { status: 200, url: zoomCallback, cache: 'no-store', page: true });

      // The demo has no Zoom extension: the test's own button connects it with the module, in a click.
      await page.evaluate(async () => {
        const { default: init, Connector } = await import('/pkg/mailconnect.js');
        await init();
        const zoom = await Connector.load({ edge: `${location.origin}/oauth`, connector: 'zoom' });
        const button = Object.assign(document.createElement('button'), { id: 'connect-zoom', textContent: 'Connect Zoom' });
        button.addEventListener('click', () => zoom.connect().then(() => { button.dataset.outcome = 'connected'; }, (err) => { button.dataset.outcome = err.code; }));
        document.body.append(button);
      });
      const popup = await page.clickForPopup('#connect-zoom');
      await signIn(popup);
      await page.waitFor('#connect-zoom[data-outcome]');
      assert.equal(await page.attribute('#connect-zoom', 'data-outcome'), 'connected');
      await popup.waitClosed();
      assert.equal(stack.oauth.lastAuthorization().redirect_uri, zoomCallback);
      const redemption = stack.oauth.requests().find((r) => r.grant_type === 'authorization_code');
      assert.deepEqual([redemption.client_id, redemption.auth_method, redemption.status], [stack.connectors.zoom.client_id, 'client_secret_basic', 200]);
    });
  });

  test('9. another site cannot use the session cookie (CORS/CSRF), and its forged postMessage is ignored', TEST, async () => {
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      // (a) The user is connected; a page on another site tries the edge API with the cookie.
      const app = await openApp(session);
      await connectViaPopup(app);
      const evil = await session.open(attacker.url);
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
      const cookie = (await app.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
      assert.match(cookie, /__Host-mailconnect-session=/);
      for (const origin of [attacker.url.slice(0, -1), undefined]) {
        const res = await postToEdge(`${stack.edge}/connectors/teams/refresh`, {
          cookie, 'content-type': 'application/json', 'x-mailconnect': '1', ...(origin ? { origin } : {}),
        }, '{}');
        assert.equal(res.status, 403, `Origin ${origin}`);
        assert.ok(res.body.action);
      }

      // Still connected: neither the forms nor the scripts disconnected the user.
      await app.reload();
      await app.waitFor(`${card()}[data-state="connected"]`);
      assert.ok((await callApi(app)).ok);
    });

    // (b) The other site opens the webmail and forges the callback message while it waits.
    stack.oauth.reset();
    await inSession(browser, async (session) => {
      const opener = await session.open(attacker.url);
      await opener.evaluate((url) => { document.getElementById('open-app').dataset.url = url; }, `${stack.url}/?view=settings`);
      const victim = await opener.clickForPopup('#open-app');
      await victim.waitFor('#app[data-ready="true"]');
      const popup = await victim.clickForPopup(`${card()} .switch`);
      await popup.waitFor('#signin');
      // The real state, so only the origin check can stop the forgery.
      const { state } = stack.oauth.lastAuthorization();
      await victim.evaluate(() => window.addEventListener('message', ({ data }) => {
        if (data === 'probe') document.documentElement.dataset.probed = 'true';
      }));
      await opener.evaluate(({ state: s, issuer }) => {
        const params = `code=forged-code&state=${encodeURIComponent(s)}&iss=${encodeURIComponent(issuer)}`;
        window.app.postMessage({ type: 'mailconnect:callback', state: s, params }, '*');
        // Messages from one window arrive in order: once the probe is in, the forgery was handled.
        window.app.postMessage('probe', '*');
      }, { state, issuer: stack.oauth.issuer });
      await victim.waitFor('html[data-probed="true"]');
      assert.equal(await victim.attribute(card(), 'data-state'), 'connecting', 'the forged message neither connected nor failed the sign-in');
      assert.equal(stack.oauth.counters().token.total, 0, 'no code was redeemed');

      await signIn(popup);
      await popup.waitClosed();
      await victim.waitFor(`${card()}[data-state="connected"]`);
      assert.equal(await victim.text(`${card()} .account-name`), 'Ada Lovelace');
      assert.equal(stack.oauth.counters().token.by_grant_type.authorization_code, 1);
    });
  });
});
