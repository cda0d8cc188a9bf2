// End-to-end, users mode (issue 14), in the engine BROWSER names (tests/support/browsers.mjs),
// over the stack's https mode as the other e2e files: the demo webmail signs Ada or Grace in
// through the stack's demo back end, whose tickets bind the edge session to her. A sign-out leaves
// nothing of Ada's to Grace on the same browser, Ada's connection follows her to another browser,
// and a tab of Grace never gets Ada's token from Ada's stale tab.
// Run: BROWSER=webkit node --test tests/e2e/users.test.mjs
//      (needs scripts/build-web.sh and scripts/build-edge.sh)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../support/stack.mjs';
import { BROWSER, inSession, launchBrowser } from '../support/browsers.mjs';
import { signIn } from '../support/chromium.mjs';

const TEST = { timeout: 120_000 };
const TEAMS = '.ext[data-connector="teams"]';

let stack;
let browser;

/** A window of the webmail in `session`, once it has started (signed in or at its sign-in page). */
async function openWebmail(session) {
  const page = await session.open(`${stack.url}/?view=settings`);
  await page.waitFor('#app[data-ready="true"]');
  return page;
}

/** Signs `page` (at the sign-in page) in as `user` ("ada" or "grace"); the page reloads signed in. */
async function signInAs(page, user) {
  await page.click(`.signin-as[data-user="${user}"]`);
  await page.waitFor(`#app[data-ready="true"] .me[data-user^="${user}@"]`);
}

async function signOut(page) {
  await page.click('.signout');
  await page.waitFor('#app[data-signed-in="false"]');
}

async function teamsState(page, state) {
  await page.waitFor(`${TEAMS}[data-state="${state}"]`);
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

describe(`webmail users in ${BROWSER}: sessions that belong to the signed-in user`, () => {
  let adaToken;

  before(async () => {
    [stack, browser] = await Promise.all([startStack({ users: true, https: true, accessTokenTtl: 3600 }), launchBrowser({ insecureCerts: true })]);
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop()]);
  });

  test('Ada connects Teams and signs out; Grace, next on the same browser, sees nothing of hers', TEST, async () => {
    await inSession(browser, async (session) => {
      const page = await openWebmail(session);
      await signInAs(page, 'ada');
      await teamsState(page, 'disconnected');
      await signIn(await page.clickForPopup(`${TEAMS} .switch`));
      await teamsState(page, 'connected');
      assert.equal(await page.text(`${TEAMS} .account-username`), 'ada@contoso.dev');
      ({ token: adaToken } = await accessToken(page));
      assert.ok(adaToken, 'Ada gets her token');

      await signOut(page);
      const ended = await sessionAnswer(page);
      assert.equal(ended.status, 401, 'nobody is bound to this browser after the sign-out');
      assert.equal(ended.body.error, 'ticket_required');

      await signInAs(page, 'grace');
      await teamsState(page, 'disconnected');
      assert.equal(await page.text('.pill[data-connector="teams"]'), 'Microsoft Teams');
      const grace = await accessToken(page);
      assert.equal(grace.token, undefined, 'no token for Grace');
      assert.ok(grace.code, 'a MailconnectError');
      const answer = await sessionAnswer(page);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.connectors, [], "Grace's session holds none of Ada's connections");
    });
  });

  test('Ada on a second browser sees Teams connected, without signing in to Microsoft again', TEST, async () => {
    assert.ok(adaToken, 'needs the first test');
    const authorizations = stack.oauth.counters().authorize;
    await inSession(browser, async (session) => {
      const page = await openWebmail(session);
      await signInAs(page, 'ada');
      await teamsState(page, 'connected');
      assert.equal(await page.text(`${TEAMS} .account-username`), 'ada@contoso.dev');
      const { token } = await accessToken(page);
      assert.ok(token, 'a token of the same grant');
      assert.equal(await session.windowCount(), 1, 'no sign-in window was opened');
      assert.equal(stack.oauth.counters().authorize, authorizations, 'no new authorization');
    });
  });

  test("a tab of Grace never gets Ada's token from Ada's tab, which learns of the change", TEST, async () => {
    await inSession(browser, async (session) => {
      const adas = await openWebmail(session);
      await signInAs(adas, 'ada');
      await teamsState(adas, 'connected');
      // Ada's tab holds her token in memory, shared with the origin's tabs.
      assert.ok((await accessToken(adas)).token);

      const graces = await openWebmail(session);
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
    });
  });
});
