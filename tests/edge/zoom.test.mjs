// A Zoom connector (`provider = "zoom"`, its base URL the OAuth server's, which serves Zoom's
// /oauth/authorize and /oauth/token) against strict refresh-token rotation, as Zoom does it: only
// the newest refresh token works. Parallel tabs and retries must never lose the connection.
// Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/until.mjs';
import { REDIRECT_URI, startEdge, upstreamCalls } from './harness.mjs';

// The stand-in server is Entra-shaped: it knows Graph's scopes, not Zoom's, and gives a refresh
// token only for offline_access (Zoom always gives one).
const ZOOM_SCOPE = 'User.Read offline_access';

describe('Zoom connector with strict refresh-token rotation', () => {
  let edge;
  before(async () => {
    edge = await startEdge({
      oauth: { rotation: 'strict' },
      connectors: (oauth) => ({
        zoom: { provider: 'zoom', authority: oauth.url, client_id: oauth.clients.secret.id, scope: ZOOM_SCOPE, redirect_uris: [REDIRECT_URI] },
      }),
      vars: (oauth) => ({ ZOOM_CLIENT_SECRET: oauth.clients.secret.secret, TEAMS_CLIENT_SECRET: undefined, OUTLOOK_MAIL_PRIVATE_KEY: undefined }),
    });
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  const refresh = (session) => edge.call('/oauth/connectors/zoom/refresh', { session });

  /** A session connected through the code flow at Zoom's paths, with upstream counters zeroed. */
  async function connected() {
    const { status, body, session } = await edge.connect('zoom');
    assert.equal(status, 200, JSON.stringify(body));
    edge.oauth.reset();
    return { session, token: body };
  }

  test("the connector uses Zoom's paths, offers no admin consent, and authenticates with HTTP Basic", async () => {
    const info = await edge.call('/oauth/connectors/zoom', { method: 'GET' });
    assert.equal(info.status, 200);
    assert.equal(info.body.authorize_url, `${edge.oauth.url}/oauth/authorize`);
    assert.ok(!('admin_consent_url' in info.body) && !('issuer' in info.body), JSON.stringify(info.body));
    const { session } = await edge.connect('zoom');
    assert.equal((await refresh(session)).status, 200);
    const requests = edge.oauth.requests();
    assert.deepEqual(requests.map((r) => [r.grant_type, r.auth_method, r.status]), [
      ['authorization_code', 'client_secret_basic', 200],
      ['refresh_token', 'client_secret_basic', 200],
    ]);
  });

  test('parallel refreshes from many tabs make one upstream call, all get its token, and the connection keeps working', async () => {
    const { session, token } = await connected();
    // Slow enough that every tab's call arrives while the first is in flight.
    edge.oauth.setMode({ slow: 400 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => refresh(session)));
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200), JSON.stringify(answers.map((a) => a.body)));
    assert.equal(new Set(answers.map((a) => a.body.access_token)).size, 1);
    assert.notEqual(answers[0].body.access_token, token.access_token);
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 1);
    // Only the rotated refresh token works now: later refreshes prove the edge kept it.
    edge.oauth.setMode({ slow: 0 });
    for (let i = 0; i < 3; i++) assert.equal((await refresh(session)).status, 200);
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 4);
    assert.ok(edge.oauth.requests().every((r) => r.status === 200 && r.auth_method === 'client_secret_basic'));
  });

  test('a refresh the provider never processed (down: 502, dropped: 502) is retryable and keeps the connection', async () => {
    const { session } = await connected();
    edge.oauth.setMode({ down: true });
    const down = await refresh(session);
    assert.deepEqual([down.status, down.body.error, down.body.action, down.body.retryable], [502, 'temporarily_unavailable', 'retry', true]);
    edge.oauth.setMode({ down: 'reset' });
    const dropped = await refresh(session);
    assert.deepEqual([dropped.status, dropped.body.error, dropped.body.action, dropped.body.retryable], [502, 'upstream_unreachable', 'retry', true]);
    // Nothing rotated, so the refresh token the edge holds is still the newest.
    edge.oauth.setMode({ down: false });
    const retried = await refresh(session);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal((await refresh(session)).status, 200);
  });

  test('a timed-out refresh (504) that the provider did not complete keeps the connection', async () => {
    const { session } = await connected();
    edge.oauth.setMode({ slow: 4000 });
    const timedOut = await refresh(session);
    assert.deepEqual([timedOut.status, timedOut.body.error, timedOut.body.action, timedOut.body.retryable], [504, 'upstream_timeout', 'retry', true]);
    // The edge hung up before the provider read the request, so the provider rotated nothing;
    // waiting for it to give up on the request rules out a race with the retry.
    await until(() => edge.oauth.requests().length > 0, 'answer from the provider to the timed-out request');
    assert.deepEqual(edge.oauth.requests().map((r) => r.status), [400]);
    edge.oauth.setMode({ slow: 0 });
    const retried = await refresh(session);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal((await refresh(session)).status, 200);
  });
});
