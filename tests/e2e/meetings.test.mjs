// End-to-end: Teams meetings in the demo calendar (www/calendar.js with mailconnect/meetings),
// the token from the Teams connector through the edge, against the local stack's Graph calendar
// stand-in (tests/support/graph-calendar.mjs), in the engine BROWSER names (tests/support/
// browsers.mjs), over the stack's https mode as webmail.test.mjs explains. One stack for the
// file, a fresh browser session per test, everything stopped at the end.
// Run: BROWSER=webkit node --test tests/e2e/meetings.test.mjs (after build-web and build-edge).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { REPO, startStack } from '../support/stack.mjs';
import { BROWSER, inSession, launchBrowser } from '../support/browsers.mjs';
import { signIn } from '../support/chromium.mjs';

const ARTIFACTS = join(REPO, 'artifacts');
const TEST = { timeout: 90_000 };
const TEAMS = '.ext[data-connector="teams"]';
const STATUS = '#meeting-form .meeting-status:is([data-state="ok"], [data-state="error"])';

let stack;
let browser;

/** A fresh session with Teams connected through the popup, on the calendar view. */
async function inCalendar(fn) {
  return inSession(browser, async (session) => {
    const page = await session.open(`${stack.url}/?view=settings`);
    await page.waitFor('#app[data-ready="true"]');
    const popup = await page.clickForPopup(`${TEAMS} .switch`);
    await signIn(popup);
    await popup.waitClosed();
    await page.waitFor(`${TEAMS}[data-state="connected"]`);
    await page.goto(`${stack.url}/?view=calendar`);
    await page.waitFor('#app[data-ready="true"]');
    await page.waitFor('#meeting-form');
    return fn(page);
  });
}

/** Fills the form's fields that are given (datetime-local values: YYYY-MM-DDTHH:MM). */
async function fill(page, fields) {
  for (const [name, value] of Object.entries(fields)) await page.fill(`#meeting-form [name="${name}"]`, value);
}

/** Clicks a button and waits for the outcome; resolves to { state, code, text } of the status line. */
async function press(page, selector) {
  await page.click(`#meeting-form ${selector}`);
  await page.waitFor(STATUS);
  return { state: await page.attribute(STATUS, 'data-state'), code: await page.attribute(STATUS, 'data-code'), text: await page.text(STATUS) };
}

describe(`Teams meetings in the demo calendar in ${BROWSER}`, () => {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    [stack, browser] = await Promise.all([startStack({ https: true, accessTokenTtl: 3600 }), launchBrowser({ insecureCerts: true })]);
  });

  after(async () => {
    await Promise.allSettled([browser?.close(), stack?.stop()]);
  });

  test('adding a Teams meeting shows its join URL; updating subject, time and attendees keeps it; cancel reaches Graph', TEST, async () => {
    stack.oauth.reset();
    await inCalendar(async (page) => {
      await fill(page, { subject: 'Design review', start: '2031-05-06T10:00', end: '2031-05-06T11:00', attendees: 'grace@contoso.dev' });
      const added = await press(page, '.add-teams');
      assert.equal(added.state, 'ok', added.text);
      const joinUrl = await page.text('#meeting-form .join-url');
      assert.match(joinUrl, /^https:\/\/teams\.microsoft\.com\/l\/meetup-join\//);
      const id = await page.attribute('#meeting-form', 'data-event-id');
      await page.screenshot(join(ARTIFACTS, `e2e-teams-meeting-${BROWSER}.png`));

      await fill(page, { subject: 'Design review (moved)', start: '2031-05-07T14:00', end: '2031-05-07T15:00', attendees: 'grace@contoso.dev, charles@contoso.dev' });
      const updated = await press(page, '.update-meeting');
      assert.equal(updated.state, 'ok', updated.text);
      let [event] = stack.oauth.calendar.events();
      assert.equal(event.id, id);
      assert.equal(event.subject, 'Design review (moved)');
      assert.equal(event.onlineMeeting?.joinUrl, joinUrl, 'the same Teams meeting after the update');
      assert.deepEqual(event.attendees.map((a) => a.emailAddress.address), ['grace@contoso.dev', 'charles@contoso.dev']);
      // The browser's local 14:00, sent in UTC.
      const localStart = await page.evaluate(() => new Date('2031-05-07T14:00').toISOString());
      assert.equal(new Date(`${event.start.dateTime}Z`).toISOString(), localStart);

      await fill(page, { comment: 'Moved to next quarter' });
      const cancelled = await press(page, '.cancel-meeting');
      assert.equal(cancelled.state, 'ok', cancelled.text);
      [event] = stack.oauth.calendar.events();
      assert.deepEqual([event.isCancelled, event.cancellationComment], [true, 'Moved to next quarter']);
    });
  });

  test('a 429 with Retry-After from Graph is waited out and retried without the user noticing', TEST, async () => {
    stack.oauth.reset();
    await inCalendar(async (page) => {
      stack.oauth.calendar.throttleNext({ status: 429, retryAfter: 1 });
      const added = await press(page, '.add-teams');
      assert.equal(added.state, 'ok', added.text);
      assert.ok(await page.visible('#meeting-form .join-url'));
      const statuses = stack.oauth.calendar.requests().map((r) => `${r.method} ${r.path.split('?')[0]} ${r.status}`);
      assert.deepEqual(statuses, ['GET /me/calendar 429', 'GET /me/calendar 200', 'POST /me/events 201']);
    });
  });

  test('a personal Microsoft account, whose calendar allows skypeForConsumer only, gets a Teams free meeting', TEST, async () => {
    stack.oauth.reset();
    stack.oauth.calendar.personalAccount('ada@contoso.dev');
    await inCalendar(async (page) => {
      await fill(page, { subject: 'Book club', start: '2031-05-06T18:00', end: '2031-05-06T19:00' });
      const added = await press(page, '.add-teams');
      assert.equal(added.state, 'ok', added.text);
      assert.match(await page.text('#meeting-form .join-url'), /^https:\/\/teams\.live\.com\/meet\//);
      const [event] = stack.oauth.calendar.events();
      assert.deepEqual([event.subject, event.isOnlineMeeting, event.onlineMeetingProvider], ['Book club', true, 'skypeForConsumer']);
    });
  });

  test('an account whose calendar does not allow Teams meetings is told so, and no event is made', TEST, async () => {
    stack.oauth.reset();
    stack.oauth.calendar.allowProviders('ada@contoso.dev', ['unknown']);
    await inCalendar(async (page) => {
      const result = await press(page, '.add-teams');
      assert.deepEqual([result.state, result.code], ['error', 'teams_not_allowed']);
      assert.match(result.text, /Teams meetings are not allowed for this account.*ask your admin/i);
      assert.equal(stack.oauth.calendar.events().length, 0);
    });
  });
});
