// Without user binding: POST /oauth/session/end, and no session fixation (a connect always
// issues a fresh handle; planted, padded and duplicate cookies are no session).
// Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { persistedBytes, SESSION_COOKIE, startEdge, upstreamCalls } from './harness.mjs';

describe('logout and fixation without user binding', () => {
  let edge;
  before(async () => {
    edge = await startEdge({ persist: true });
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  const listed = async (session) => (await edge.call('/oauth/session', { method: 'GET', session })).body.connectors.map((c) => c.id);

  test('end forgets every connector, clears the cookie, and nothing calls the provider for the session afterwards', async () => {
    const teams = await edge.connect('teams');
    const { session } = await edge.connect('outlook-mail', { session: teams.session });
    assert.deepEqual(await listed(session), ['outlook-mail', 'teams']);
    edge.oauth.reset();
    const ended = await edge.call('/oauth/session/end', { session });
    assert.deepEqual([ended.status, ended.body], [200, { status: 'ended' }]);
    assert.match(ended.cookies[0], /^__Host-mailconnect-session=; Max-Age=0;/);
    assert.deepEqual(await listed(session), []);
    for (const id of ['teams', 'outlook-mail']) {
      const refresh = await edge.call(`/oauth/connectors/${id}/refresh`, { session });
      assert.deepEqual([refresh.status, refresh.body.error], [401, 'session_expired']);
    }
    assert.equal(await upstreamCalls(edge.oauth), 0);
    assert.ok(!(await persistedBytes(edge.persistDir)).includes('grant:outlook-mail'), 'the grants were deleted');
  });

  test('end without a session answers the same', async () => {
    const ended = await edge.call('/oauth/session/end', {});
    assert.deepEqual([ended.status, ended.body], [200, { status: 'ended' }]);
  });

  test('end from a foreign origin is refused and the session stays', async () => {
    const { session } = await edge.connect('teams');
    const foreign = await edge.call('/oauth/session/end', { session, headers: { origin: 'https://evil.example' } });
    assert.deepEqual([foreign.status, foreign.body.error], [403, 'invalid_origin']);
    const form = await edge.call('/oauth/session/end', { session, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual([form.status, form.body.error], [415, 'unsupported_media_type']);
    assert.deepEqual(await listed(session), ['teams']);
  });

  test('a planted handle is never adopted: the connect issues a fresh one', async () => {
    const planted = randomBytes(32).toString('base64url');
    const connected = await edge.connect('teams', { session: planted });
    assert.equal(connected.status, 200);
    assert.notEqual(connected.session, planted);
    assert.deepEqual(await listed(planted), []);
    assert.deepEqual(await listed(connected.session), ['teams']);
  });

  test('a session someone else knows the handle of moves away on the next connect', async () => {
    const attacker = await edge.connect('teams');
    const victim = await edge.connect('outlook-mail', { session: attacker.session });
    assert.notEqual(victim.session, attacker.session);
    assert.deepEqual(await listed(attacker.session), []);
    assert.deepEqual(await listed(victim.session), ['outlook-mail', 'teams']);
  });

  test('padded, duplicate and non-ASCII cookies are no session', async () => {
    const { session } = await edge.connect('teams');
    const other = (await edge.connect('teams')).session;
    for (const cookie of [
      `${SESSION_COOKIE}=${'='.repeat(43)}`,
      `${SESSION_COOKIE}=${session.slice(0, 42)}=`,
      `${SESSION_COOKIE}=${session}; ${SESSION_COOKIE}=${other}`,
      `${SESSION_COOKIE}=${session}; ${SESSION_COOKIE}=${session}`,
      `${SESSION_COOKIE}=${session.slice(0, 41)}%C3%A9`,
    ]) {
      const { status, body } = await edge.call('/oauth/session', { method: 'GET', headers: { cookie } });
      assert.deepEqual([status, body], [200, { connectors: [] }], cookie);
      const refresh = await edge.call('/oauth/connectors/teams/refresh', { headers: { cookie } });
      assert.deepEqual([refresh.status, refresh.body.error], [401, 'no_session'], cookie);
    }
    assert.deepEqual(await listed(session), ['teams']);
  });
});
