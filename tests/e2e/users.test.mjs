// End-to-end, users mode (issue 14): the demo webmail signs Ada or Grace in through the stack's
// demo back end, whose tickets bind the edge session to her. Driven in Chromium: a sign-out
// leaves nothing of Ada's to Grace on the same browser, Ada's connection follows her to another
// browser, and a tab of Grace never gets Ada's token from Ada's stale tab.
// Run: node --test tests/e2e/users.test.mjs   (needs scripts/build-web.sh and scripts/build-edge.sh)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../support/stack.mjs';
import { launchChromium, signIn } from '../support/chromium.mjs';

const TEST = { timeout: 90_000 };
const TEAMS = '.ext[data-connector="teams"]';

let stack;
let browser;

/** A tab of the webmail, once it has started (signed in or at its sign-in page). */
async function openWebmail(context) {
  const page = await context.newPage();
  await page.goto(`${stack.url}/?view=settings`);
  await page.waitForSelector('#app[data-ready="true"]');
  return page;
}

/** Signs `page` (at the sign-in page) in as `user` ("ada" or "grace"). */
async function signInAs(page, user) {
  await Promise.all([page.waitForEvent('load'), page.click(`.signin-as[data-user="${user}"]`)]);
  await page.waitForSelector(`#app[data-ready="true"] .me[data-user^="${user}@"]`);
}

async function signOut(page) {
  await Promise.all([page.waitForEvent('load'), page.click('.signout')]);
  await page.waitForSelector('#app[data-signed-in="false"]');
}

async function teamsState(page, state) {
  await page.waitForSelector(`${TEAMS}[data-state="${state}"]`);
}

/**
 * What a fresh Connector of this tab gets from `accessToken()`, with the page's own ticket
 * function: `{token}` or `{code}` of the rejection.
 */
function accessToken(page) {
  return page.evaluate(async (edge) => {
    const { default: init, Connector } = await import('/pkg/mailconnect.js');
    const { demoBackend } = await import('/users.js');
    await init();
    const backend = await demoBackend();
    const teams = await Connector.load({ edge, connector: 'teams', ticket: backend.ticket });
    try {
      return { token: (await teams.accessToken()).accessToken };
    } catch (err) {
      return { code: err.code };
    } finally {
      teams.free();
    }
  }, stack.edge);
}

/** The edge's answer to this tab's `GET /oauth/session`, as the browser sends it. */
function sessionAnswer(page) {
  return page.evaluate(async (edge) => {
    const res = await fetch(`${edge}/session`, { credentials: 'include', cache: 'no-store', headers: { 'x-mailconnect': '1' } });
    return { status: res.status, body: await res.json() };
  }, stack.edge);
}

describe('webmail users: sessions that belong to the signed-in user', () => {
  let adaToken;

  before(async () => {
    [stack, browser] = await Promise.all([startStack({ users: true, accessTokenTtl: 3600 }), launchChromium()]);
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop()]);
  });

  test('Ada connects Teams and signs out; Grace, next on the same browser, sees nothing of hers', TEST, async () => {
    const context = await browser.newContext();
    try {
      const page = await openWebmail(context);
      await signInAs(page, 'ada');
      await teamsState(page, 'disconnected');
      const popup = page.waitForEvent('popup');
      await page.click(`${TEAMS} .switch`);
      await signIn(await popup);
      await teamsState(page, 'connected');
      assert.equal(await page.textContent(`${TEAMS} .account-username`), 'ada@contoso.dev');
      ({ token: adaToken } = await accessToken(page));
      assert.ok(adaToken, 'Ada gets her token');

      await signOut(page);
      const ended = await sessionAnswer(page);
      assert.equal(ended.status, 401, 'nobody is bound to this browser after the sign-out');
      assert.equal(ended.body.error, 'ticket_required');

      await signInAs(page, 'grace');
      await teamsState(page, 'disconnected');
      assert.equal(await page.textContent('.pill[data-connector="teams"]'), 'Microsoft Teams');
      const grace = await accessToken(page);
      assert.equal(grace.token, undefined, 'no token for Grace');
      assert.ok(grace.code, 'a MailconnectError');
      const session = await sessionAnswer(page);
      assert.equal(session.status, 200);
      assert.deepEqual(session.body.connectors, [], "Grace's session holds none of Ada's connections");
    } finally {
      await context.close();
    }
  });

  test('Ada on a second browser sees Teams connected, without signing in to Microsoft again', TEST, async () => {
    assert.ok(adaToken, 'needs the first test');
    const authorizations = stack.oauth.counters().authorize;
    const context = await browser.newContext();
    try {
      const page = await openWebmail(context);
      let popups = 0;
      page.on('popup', () => { popups += 1; });
      await signInAs(page, 'ada');
      await teamsState(page, 'connected');
      assert.equal(await page.textContent(`${TEAMS} .account-username`), 'ada@contoso.dev');
      const { token } = await accessToken(page);
      assert.ok(token, 'a token of the same grant');
      assert.equal(popups, 0);
      assert.equal(stack.oauth.counters().authorize, authorizations, 'no new authorization');
    } finally {
      await context.close();
    }
  });

  test("a tab of Grace never gets Ada's token from Ada's tab, which learns of the change", TEST, async () => {
    const context = await browser.newContext();
    try {
      const adas = await openWebmail(context);
      await signInAs(adas, 'ada');
      await teamsState(adas, 'connected');
      // Ada's tab holds her token in memory, shared with the origin's tabs.
      assert.ok((await accessToken(adas)).token);

      const graces = await openWebmail(context);
      await teamsState(graces, 'connected');
      await signOut(graces);
      // The end reached Ada's tab: its Teams went away with a change event, without a reload.
      await teamsState(adas, 'disconnected');
      await signInAs(graces, 'grace');
      await teamsState(graces, 'disconnected');

      // Ada's stale tab asks for a token: its ticket function now vouches for Grace.
      assert.equal((await accessToken(adas)).token, undefined);
      const grace = await accessToken(graces);
      assert.equal(grace.token, undefined, `Grace got a token: ${grace.token === adaToken ? "Ada's" : 'someone'}`);
      assert.deepEqual((await sessionAnswer(graces)).body.connectors, []);
    } finally {
      await context.close();
    }
  });
});
