// End-to-end: links into the demo webmail from elsewhere (mailconnect/links). A CRM on another
// origin links to messages with URLs that the `mailconnect message-link` command built (core's
// format); the webmail routes them on load, also across a sign-in by redirect. mailto: links open
// the compose view. In the engine BROWSER names (tests/support/browsers.mjs), the edge in workerd
// and the Entra-like OAuth server, over the stack's https mode as webmail.test.mjs explains.
// Run: BROWSER=firefox node --test tests/e2e/links.test.mjs (after build-web and build-edge)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildCli } from '../support/cli.mjs';
import { BROWSER, inSession, launchBrowser, waitForUrl } from '../support/browsers.mjs';
import { signIn } from '../support/chromium.mjs';
import { REPO, startStack } from '../support/stack.mjs';

const run = promisify(execFile);
const ARTIFACTS = join(REPO, 'artifacts');
const TEST = { timeout: 90_000 };
/** The demo INBOX's UIDVALIDITY (www/mailbox.js). */
const UIDVALIDITY = '1700000000';

let stack;
let browser;
let crm;
let cli;

/** `mailconnect message-link --base {webmail}/ …`: the URL a back end puts in its pages. */
async function messageLink(...args) {
  const { stdout } = await run(cli, ['message-link', '--base', `${stack.url}/`, ...args]);
  return stdout.trim();
}

/** A CRM on another site (127.0.0.1, not localhost) whose page links to messages in the webmail. */
async function startCrm() {
  const links = new Map();
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    const items = [...links].map(([id, href]) => `<li><a id="${id}" href="${href.replaceAll('&', '&amp;')}" target="_blank" rel="noopener">${id}</a></li>`);
    res.end(`<!doctype html><title>CRM</title><h1>Ticket 4711</h1><ul>${items.join('')}</ul>`);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    links,
    stop: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(ok);
    }),
  };
}

/** Opens the CRM, clicks the link `id` (a new tab, as CRMs open mail) and resolves to that tab. */
async function followFromCrm(session, id) {
  const page = await session.open(crm.url);
  const webmail = await page.clickForPopup(`#${id}`);
  await webmail.waitFor('#app[data-ready="true"]');
  return webmail;
}

const view = (page) => page.attribute('.message-view', 'data-state');

describe(`links into the demo webmail in ${BROWSER}`, () => {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    [stack, browser, crm, cli] = await Promise.all([startStack({ https: true, accessTokenTtl: 3600 }), launchBrowser({ insecureCerts: true }), startCrm(), buildCli()]);
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop(), crm?.stop()]);
  });

  test('a CRM on another origin links to a message; the webmail signs in by redirect and comes back to that message', TEST, async () => {
    stack.oauth.reset();
    const link = await messageLink('--folder', 'INBOX', '--uidvalidity', UIDVALIDITY, '--uid', '102');
    assert.equal(link, `${stack.url}/?folder=INBOX&uidvalidity=${UIDVALIDITY}&uid=102`);
    crm.links.set('budget', link);
    await inSession(browser, async (session) => {
      const page = await followFromCrm(session, 'budget');
      assert.equal(await page.url(), link);
      assert.equal(await view(page), 'needs-connection');
      await page.click('.message-view .connect-mail');
      await waitForUrl(page, (url) => url.startsWith(`${stack.oauth.url}/login/`));
      await signIn(page);
      await waitForUrl(page, (url) => url === link);
      await page.waitFor('.message-view[data-state="open"]');
      assert.equal(await page.text('.message-view .subject'), 'Difference engine: budget');
      assert.equal(await page.text('.message-view .from'), 'Charles Babbage');
      assert.equal(await page.title(), 'Difference engine: budget · Contoso Mail');
      await page.screenshot(join(ARTIFACTS, `links-message-${BROWSER}.png`));
      // Opening it took one code redemption and an IMAP login with the new token.
      const counters = stack.oauth.counters();
      assert.equal(counters.token.by_grant_type.authorization_code, 1);
      assert.ok(counters.xoauth2 >= 1, JSON.stringify(counters));
    });
  });

  test('once connected, a link by Message-ID opens its message at once; a gone or damaged link says so', TEST, async () => {
    stack.oauth.reset();
    crm.links.set('notes', await messageLink('--message-id', '<compiler-notes.4711@contoso.dev>'));
    await inSession(browser, async (session) => {
      const settings = await session.open(`${stack.url}/?view=settings`);
      await settings.waitFor('#app[data-ready="true"]');
      const popup = await settings.clickForPopup('.ext[data-connector="outlook-mail"] .switch');
      await signIn(popup);
      await settings.waitFor('.ext[data-connector="outlook-mail"][data-state="connected"]');
      const authorizations = stack.oauth.counters().authorize;

      const page = await followFromCrm(session, 'notes');
      assert.equal(await page.url(), `${stack.url}/?mid=compiler-notes.4711%40contoso.dev`);
      await page.waitFor('.message-view[data-state="open"]');
      assert.equal(await page.text('.message-view .subject'), 'Compiler notes for Thursday');
      assert.equal(stack.oauth.counters().authorize, authorizations, 'no second sign-in');

      // The folder was rebuilt since the link was made: a new UIDVALIDITY.
      await page.goto(await messageLink('--folder', 'INBOX', '--uidvalidity', '1700000001', '--uid', '101'));
      await page.waitFor('#app[data-ready="true"]');
      assert.equal(await view(page), 'missing');

      for (const damaged of [`${stack.url}/?folder=INBOX&uidvalidity=${UIDVALIDITY}&uid=0`, `${stack.url}/?mid=nobody`, `${stack.url}/?mid=a@b&uid=1`]) {
        await page.goto(damaged);
        await page.waitFor('#app[data-ready="true"]');
        assert.equal(await view(page), 'invalid', damaged);
        assert.match(await page.text('.message-view .notice'), /does not open a message of this webmail/);
        assert.equal(await page.url(), damaged);
      }
    });
  });

  test('a mailto: link handed over by the browser opens a filled-in message, and Settings registers the handler', TEST, async () => {
    await inSession(browser, async (session) => {
      const page = await session.open(`${stack.url}/?view=settings`);
      await page.waitFor('#app[data-ready="true"]');
      await page.click('.register-mailto');
      await page.waitFor('.mailto-result[data-outcome]');
      // WebKit, as Safari, has no navigator.registerProtocolHandler: the page says so.
      assert.equal(await page.attribute('.mailto-result', 'data-outcome'), BROWSER === 'webkit' ? 'browser_unsupported' : 'asked');

      // What the browser opens for <a href="mailto:…"> once the handler is registered: the
      // template with the whole link percent-encoded in place of %s.
      const mailto = 'mailto:grace@contoso.dev,alan@contoso.dev?cc=charles@contoso.dev&subject=Compiler%20notes%20%26%20more&body=See%20you%0D%0AThursday&from=ceo@contoso.dev';
      await page.goto(`${stack.url}/?view=compose&mailto=${encodeURIComponent(mailto)}`);
      await page.waitFor('#app[data-ready="true"]');
      const value = (name) => page.value(`.compose-form [name="${name}"]`);
      assert.equal(await value('to'), 'grace@contoso.dev, alan@contoso.dev');
      assert.equal(await value('cc'), 'charles@contoso.dev');
      assert.equal(await value('bcc'), '');
      assert.equal(await value('subject'), 'Compiler notes & more');
      assert.equal(await value('body'), 'See you\nThursday');

      await page.goto(`${stack.url}/?view=compose&mailto=${encodeURIComponent('https://evil.example/')}`);
      await page.waitFor('#app[data-ready="true"]');
      assert.equal(await page.text('.notice[role="alert"]'), 'this is not a mailto: link');
      assert.equal(await value('to'), '');
    });
  });
});
