// POST /oauth/connectors/{id}/refresh: the cache, single-flight refreshes in the session's
// Durable Object, strict rotation, and failures that must not lose the grant.
// Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEdge, upstreamCalls } from './harness.mjs';

describe('POST /oauth/connectors/{id}/refresh', () => {
  let edge;
  before(async () => {
    edge = await startEdge();
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  const refresh = (session, connector = 'teams', options = {}) => edge.call(`/oauth/connectors/${connector}/refresh`, { session, ...options });

  /** A session connected to `connector`, with upstream counters zeroed afterwards. */
  async function connected(connector = 'teams') {
    const { status, body, session } = await edge.connect(connector);
    assert.equal(status, 200, JSON.stringify(body));
    const mode = edge.oauth.mode();
    edge.oauth.reset();
    edge.oauth.setMode(mode);
    return { session, token: body };
  }

  test('a token valid beyond the margin comes from the session, without an upstream call', async () => {
    edge.oauth.setMode({ accessTokenTtl: 3600 });
    const { session, token } = await connected();
    for (let i = 0; i < 3; i++) {
      const { status, body } = await refresh(session);
      assert.equal(status, 200);
      assert.equal(body.access_token, token.access_token);
      assert.equal(body.expires_at, token.expires_at);
      assert.deepEqual(body.account, token.account);
    }
    assert.equal(await upstreamCalls(edge.oauth), 0);
  });

  test('a token inside the margin is refreshed upstream, and the new one is returned', async () => {
    const { session, token } = await connected();
    const { status, body } = await refresh(session);
    assert.equal(status, 200, JSON.stringify(body));
    assert.notEqual(body.access_token, token.access_token);
    assert.deepEqual(body.account, token.account);
    assert.ok(!('refresh_token' in body) && !('id_token' in body));
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 1);
    const [request] = edge.oauth.requests();
    assert.deepEqual([request.auth_method, request.origin, request.status], ['client_secret_basic', null, 200]);
  });

  test('concurrent refreshes make exactly one upstream call, and all get its token', async () => {
    const { session } = await connected();
    // The provider answers slowly, so every call arrives while the first is in flight.
    edge.oauth.setMode({ slow: 400 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => refresh(session)));
    assert.deepEqual(answers.map((a) => a.status), Array(12).fill(200));
    assert.equal(new Set(answers.map((a) => a.body.access_token)).size, 1);
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 1);
  });

  test('with strict rotation, bursts from parallel tabs never break the grant', async () => {
    edge.oauth.setMode({ rotation: 'strict' });
    const { session } = await connected();
    edge.oauth.setMode({ slow: 200 });
    for (let burst = 0; burst < 3; burst++) {
      const answers = await Promise.all(Array.from({ length: 6 }, () => refresh(session)));
      assert.deepEqual(answers.map((a) => a.status), Array(6).fill(200), JSON.stringify(answers.map((a) => a.body)));
    }
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 3);
    assert.ok(edge.oauth.requests().every((r) => r.status === 200));
  });

  test('a timed-out refresh keeps the old refresh token: 504 retry, then it works', async () => {
    const { session } = await connected();
    edge.oauth.setMode({ slow: 4000 });
    const timedOut = await refresh(session);
    assert.equal(timedOut.status, 504);
    assert.deepEqual([timedOut.body.error, timedOut.body.action, timedOut.body.retryable], ['upstream_timeout', 'retry', true]);
    edge.oauth.setMode({ slow: 0 });
    assert.equal((await refresh(session)).status, 200);
  });

  test('a provider that is down keeps the old refresh token: 502 retry, then it works', async () => {
    const { session } = await connected();
    edge.oauth.setMode({ down: true });
    const down = await refresh(session);
    assert.equal(down.status, 502);
    assert.deepEqual([down.body.error, down.body.action, down.body.retryable, down.body.error_codes], ['temporarily_unavailable', 'retry', true, [90033]]);
    edge.oauth.setMode({ down: false });
    assert.equal((await refresh(session)).status, 200);
  });

  test('a dropped connection is 502 upstream_unreachable, retryable', async () => {
    const { session } = await connected();
    edge.oauth.setMode({ down: 'reset' });
    const { status, body } = await refresh(session);
    assert.equal(status, 502);
    assert.deepEqual([body.error, body.action, body.retryable], ['upstream_unreachable', 'retry', true]);
    edge.oauth.setMode({ down: false });
    assert.equal((await refresh(session)).status, 200);
  });

  test('a revoked grant asks to reconnect: 400 invalid_grant with AADSTS70008', async () => {
    const { session } = await connected();
    edge.oauth.revokeAll();
    const { status, body } = await refresh(session);
    assert.equal(status, 400);
    assert.deepEqual([body.error, body.action, body.retryable, body.error_codes], ['invalid_grant', 'reconnect', false, [70008]]);
  });

  test("the certificate connector refreshes with a fresh client assertion", async () => {
    const { session, token } = await connected('outlook-mail');
    const { status, body } = await refresh(session, 'outlook-mail');
    assert.equal(status, 200, JSON.stringify(body));
    assert.notEqual(body.access_token, token.access_token);
    const [request] = edge.oauth.requests();
    assert.deepEqual([request.client_id, request.grant_type, request.auth_method, request.status], ['mailconnect-cert', 'refresh_token', 'private_key_jwt', 200]);
  });

  test('without a session cookie it is 401 no_session', async () => {
    const { status, body } = await refresh(undefined);
    assert.equal(status, 401);
    assert.deepEqual([body.error, body.action], ['no_session', 'reconnect']);
  });

  test('a cookie no session was made for is 401 session_expired, and the cookie is cleared', async () => {
    const { status, body, cookies } = await refresh(randomBytes(32).toString('base64url'));
    assert.equal(status, 401);
    assert.deepEqual([body.error, body.action], ['session_expired', 'reconnect']);
    assert.match(cookies[0], /^__Host-mailconnect-session=; Max-Age=0; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  });

  test('a connector this session never connected is 401 not_connected', async () => {
    const { session } = await connected('teams');
    const { status, body } = await refresh(session, 'outlook-mail');
    assert.equal(status, 401);
    assert.deepEqual([body.error, body.action], ['not_connected', 'reconnect']);
  });

  test('needs the allowed origin, the CSRF header and an empty JSON object', async () => {
    const { session } = await connected();
    const foreign = await refresh(session, 'teams', { headers: { origin: 'https://evil.example' } });
    assert.deepEqual([foreign.status, foreign.body.error], [403, 'invalid_origin']);
    const noHeader = await refresh(session, 'teams', { headers: { 'x-mailconnect': undefined } });
    assert.deepEqual([noHeader.status, noHeader.body.error], [403, 'missing_csrf_header']);
    const text = await refresh(session, 'teams', { headers: { 'content-type': 'text/plain' } });
    assert.deepEqual([text.status, text.body.error], [415, 'unsupported_media_type']);
    const extra = await refresh(session, 'teams', { body: { force: true } });
    assert.deepEqual([extra.status, extra.body.error], [400, 'invalid_request']);
    assert.equal(await upstreamCalls(edge.oauth), 0);
  });
});

describe('refresh across a restart', () => {
  let edge;
  before(async () => {
    edge = await startEdge({ persist: true, oauth: { rotation: 'strict' } });
  });
  after(() => edge?.stop());

  test('a rotated refresh token is persisted before the answer: with strict rotation, the session survives a restart', async () => {
    const { session } = await edge.connect('teams');
    for (let i = 0; i < 2; i++) {
      assert.equal((await edge.call('/oauth/connectors/teams/refresh', { session })).status, 200);
      // Nothing held in memory survives this: only what was stored before answering.
      await edge.restart();
    }
    const { status, body } = await edge.call('/oauth/connectors/teams/refresh', { session });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 3);
    assert.ok(edge.oauth.requests().every((r) => r.status === 200));
  });
});
