// mailconnect/meetings (the built crates/web/pkg/meetings.js) against the Graph calendar stand-in of
// the local OAuth server, with real tokens from the headless code flow. Run: node --test tests/support/
// (needs scripts/build-web.sh first).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { startOAuthServer } from './oauth-server.mjs';
import { TeamsMeetings } from '../../crates/web/pkg/meetings.js';
import { MailconnectError } from '../../crates/web/pkg/mailconnect.js';

const MEETINGS_JS = new URL('../../crates/web/pkg/meetings.js', import.meta.url);
const REDIRECT = 'http://127.0.0.1:9/callback';
const CALENDAR_SCOPE = 'openid profile offline_access User.Read Calendars.ReadWrite';
// The tenant of every personal Microsoft account (the `tid` of their tokens).
const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** An access token for `user` with `scope` from the code flow (PKCE, client secret). */
async function accessToken(server, { user = 'ada@contoso.dev', scope = CALENDAR_SCOPE } = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(server.authorizeUrl('common'));
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: server.clients.secret.id, redirect_uri: REDIRECT, scope, state: 's',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);
  const code = new URL(await server.authorize(url.href, { user })).searchParams.get('code');
  const res = await fetch(server.tokenUrl('common'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: server.clients.secret.id, client_secret: server.clients.secret.secret }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token;
}

/** A token source like a Connector, counting how often it is asked. */
function tokensOf(token) {
  const source = { calls: 0, accessToken: async () => { source.calls += 1; return { accessToken: token }; } };
  return source;
}

const HOUR = 3600_000;
const at = (hoursFromNow) => new Date(Math.round(Date.now() / HOUR) * HOUR + hoursFromNow * HOUR);

describe('mailconnect/meetings against the Graph calendar stand-in', () => {
  let server;
  let meetings;
  let tokens;

  before(async () => {
    server = await startOAuthServer({ redirectUris: [REDIRECT], accessTokenTtl: 600 });
    tokens = tokensOf(await accessToken(server));
    meetings = new TeamsMeetings({ tokens, graphBase: `${server.url}/graph/v1.0` });
    const size = statSync(MEETINGS_JS).size;
    console.log(`# meetings.js: ${size} B, ${gzipSync(readFileSync(MEETINGS_JS)).length} B gzip (not in the main bundle's budget)`);
  });

  after(() => server.stop());

  test('create gives a Teams join URL; update of subject, time and attendees keeps the same meeting', async () => {
    server.calendar.reset();
    const created = await meetings.create({ subject: 'Design review', start: at(24), end: at(25), attendees: ['grace@contoso.dev'] });
    assert.match(created.joinUrl, /^https:\/\/teams\.microsoft\.com\/l\/meetup-join\//);
    assert.deepEqual([created.start, created.end], [at(24), at(25)]);

    const updated = await meetings.update(created.id, {
      subject: 'Design review (moved)', start: at(26), end: at(27), attendees: ['grace@contoso.dev', { email: 'charles@contoso.dev', name: 'Charles' }],
    });
    assert.equal(updated.joinUrl, created.joinUrl);
    const [stored] = server.calendar.events();
    assert.equal(stored.subject, 'Design review (moved)');
    assert.equal(stored.onlineMeeting.joinUrl, created.joinUrl);
    assert.equal(stored.isOnlineMeeting, true);
    assert.deepEqual(stored.attendees.map((a) => a.emailAddress.address), ['grace@contoso.dev', 'charles@contoso.dev']);
    assert.equal(new Date(`${stored.start.dateTime}Z`).getTime(), at(26).getTime());
  });

  test('a body edit that keeps the meeting blob keeps the meeting; one that drops it is refused before Graph sees it', async () => {
    server.calendar.reset();
    const { id, joinUrl } = await meetings.create({ subject: 'Sync', start: at(1), end: at(2), body: '<p>Agenda: budget</p>' });
    const edited = await meetings.update(id, { body: (html) => html.replace('budget', 'budget and hiring') });
    assert.equal(edited.joinUrl, joinUrl);
    assert.match(edited.body.content, /budget and hiring/);

    const patches = () => server.calendar.requests().filter((r) => r.method === 'PATCH').length;
    const before = patches();
    await assert.rejects(meetings.update(id, { body: () => '<p>New agenda</p>' }), { code: 'meeting_blob_removed' });
    assert.equal(patches(), before, 'nothing was sent');
    assert.equal(server.calendar.events()[0].onlineMeeting.joinUrl, joinUrl);
  });

  test('the stand-in, like Graph, turns the meeting off when a PATCH rewrites the body without its blob', async () => {
    server.calendar.reset();
    const { id } = await meetings.create({ subject: 'Sync', start: at(1), end: at(2) });
    const res = await fetch(`${server.url}/graph/v1.0/me/events/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${(await tokens.accessToken()).accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ body: { contentType: 'html', content: '<p>rewritten</p>' } }),
    });
    assert.equal(res.status, 200);
    const event = await res.json();
    assert.deepEqual([event.isOnlineMeeting, event.onlineMeeting], [false, null]);
  });

  test('cancel sends the comment and marks the event cancelled; delete removes it', async () => {
    server.calendar.reset();
    const first = await meetings.create({ subject: 'To cancel', start: at(3), end: at(4) });
    const second = await meetings.create({ subject: 'To delete', start: at(5), end: at(6) });
    await meetings.cancel(first.id, { comment: 'Sorry, moved to next week' });
    assert.equal((await meetings.get(first.id)).isCancelled, true);
    assert.equal(server.calendar.events().find((e) => e.id === first.id).cancellationComment, 'Sorry, moved to next week');

    await meetings.delete(second.id);
    await assert.rejects(meetings.get(second.id), (err) => err instanceof MailconnectError && err.code === 'ErrorItemNotFound' && err.action === 'none');
  });

  test('429 and 503 with Retry-After are waited out and retried with a fresh token; past maxRetries they reject as retryable', async () => {
    server.calendar.reset();
    server.calendar.throttleNext({ status: 429, retryAfter: 1, count: 1 });
    const calls = tokens.calls;
    const started = Date.now();
    assert.equal(await meetings.teamsAllowed(), true);
    assert.ok(Date.now() - started >= 1000, 'waited for Retry-After');
    assert.deepEqual(server.calendar.requests().map((r) => r.status), [429, 200]);
    assert.equal(tokens.calls - calls, 2, 'a token was asked for each attempt');

    const impatient = new TeamsMeetings({ tokens, graphBase: `${server.url}/graph/v1.0`, maxRetries: 1 });
    server.calendar.throttleNext({ status: 503, retryAfter: 0, count: 2 });
    await assert.rejects(impatient.teamsAllowed(), { code: 'ServiceNotAvailable', action: 'retry', retryable: true });
  });

  test('an account whose calendar does not allow Teams gets teams_not_allowed and no event is made', async () => {
    server.calendar.reset();
    server.calendar.allowProviders('ada@contoso.dev', ['skypeForBusiness']);
    assert.equal(await meetings.meetingProvider(), null);
    await assert.rejects(meetings.create({ subject: 'x', start: at(1), end: at(2) }), { code: 'teams_not_allowed', action: 'configuration' });
    assert.equal(server.calendar.events().length, 0);
  });

  test('a work account\'s calendar that allows teamsForBusiness and skypeForConsumer gets teamsForBusiness', async () => {
    server.calendar.reset();
    server.calendar.allowProviders('ada@contoso.dev', ['skypeForConsumer', 'teamsForBusiness']);
    const created = await meetings.create({ subject: 'Both', start: at(1), end: at(2) });
    assert.equal(created.onlineMeetingProvider, 'teamsForBusiness');
    assert.match(created.joinUrl, /^https:\/\/teams\.microsoft\.com\/l\/meetup-join\//);
  });

  test('a personal account\'s calendar (skypeForConsumer only) gets a Teams free meeting through skypeForConsumer, kept by updates', async () => {
    server.calendar.reset();
    server.calendar.personalAccount('ada@contoso.dev');
    assert.equal(await meetings.meetingProvider(), 'skypeForConsumer');
    assert.equal(await meetings.teamsAllowed(), true);
    const created = await meetings.create({ subject: 'Book club', start: at(24), end: at(25), attendees: ['grace@outlook.com'] });
    assert.equal(created.onlineMeetingProvider, 'skypeForConsumer');
    assert.match(created.joinUrl, /^https:\/\/teams\.live\.com\/meet\/\d+\?p=/);

    const updated = await meetings.update(created.id, { subject: 'Book club (moved)', start: at(26), end: at(27) });
    assert.equal(updated.joinUrl, created.joinUrl);
    const [stored] = server.calendar.events();
    assert.deepEqual([stored.isOnlineMeeting, stored.onlineMeetingProvider, stored.subject], [true, 'skypeForConsumer', 'Book club (moved)']);
  });

  test('the stand-in, like Graph, makes a personal account\'s event without a meeting when asked for teamsForBusiness', async () => {
    server.calendar.reset();
    server.calendar.personalAccount('ada@contoso.dev');
    const res = await fetch(`${server.url}/graph/v1.0/me/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(await tokens.accessToken()).accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        subject: 'Assumed Teams', start: { dateTime: '2031-01-01T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2031-01-01T11:00:00', timeZone: 'UTC' },
        isOnlineMeeting: true, onlineMeetingProvider: 'teamsForBusiness',
      }),
    });
    assert.equal(res.status, 201);
    const event = await res.json();
    assert.deepEqual([event.isOnlineMeeting, event.onlineMeetingProvider, event.onlineMeeting], [false, 'unknown', null]);
  });

  test('a personal account whose calendar allows no online meeting provider still gets teams_not_allowed and no event', async () => {
    server.calendar.reset();
    server.calendar.personalAccount('ada@contoso.dev');
    server.calendar.allowProviders('ada@contoso.dev', []);
    await assert.rejects(meetings.create({ subject: 'x', start: at(1), end: at(2) }), { code: 'teams_not_allowed', action: 'configuration' });
    assert.equal(server.calendar.events().length, 0);
  });

  test('the stand-in enforces the token: a Graph token without Calendars.ReadWrite is refused 403, as consent', async () => {
    const readOnly = new TeamsMeetings({
      tokens: tokensOf(await accessToken(server, { scope: 'openid profile User.Read Calendars.Read' })),
      graphBase: `${server.url}/graph/v1.0`,
    });
    await assert.rejects(readOnly.teamsAllowed(), { code: 'ErrorAccessDenied', action: 'consent' });
    const outlook = new TeamsMeetings({
      tokens: tokensOf(await accessToken(server, { scope: 'openid https://outlook.office.com/IMAP.AccessAsUser.All' })),
      graphBase: `${server.url}/graph/v1.0`,
    });
    await assert.rejects(outlook.teamsAllowed(), { code: 'InvalidAuthenticationToken', action: 'reconnect' });
  });
});

describe('mailconnect/meetings for personal Microsoft accounts, known by their tokens\' consumers tenant', () => {
  let server;

  before(async () => {
    server = await startOAuthServer({ redirectUris: [REDIRECT], tenantId: CONSUMERS_TENANT });
  });

  after(() => server.stop());

  test('a token whose tid is the consumers tenant has a skypeForConsumer calendar and gets a Teams free meeting', async () => {
    const meetings = new TeamsMeetings({ tokens: tokensOf(await accessToken(server)), graphBase: `${server.url}/graph/v1.0` });
    assert.equal(await meetings.meetingProvider(), 'skypeForConsumer');
    const created = await meetings.create({ subject: 'Family call', start: at(1), end: at(2) });
    assert.equal(created.onlineMeetingProvider, 'skypeForConsumer');
    assert.match(created.joinUrl, /^https:\/\/teams\.live\.com\/meet\//);
  });
});
