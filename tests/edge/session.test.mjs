// GET /oauth/session and POST /oauth/connectors/{id}/disconnect; session lifetimes and what a
// session keeps at rest. Run: node --test tests/edge/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { persistedBytes, startEdge } from './harness.mjs';

const ADA = { name: 'Ada Lovelace', username: 'ada@contoso.dev', oid: '5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b' };

describe('GET /oauth/session and disconnect', () => {
  let edge;
  before(async () => {
    edge = await startEdge();
  });
  after(() => edge?.stop());

  const info = (session, headers) => edge.call('/oauth/session', { method: 'GET', session, headers });

  test('lists the connected connectors with their accounts', async () => {
    const teams = await edge.connect('teams');
    const { session } = await edge.connect('outlook-mail', { session: teams.session });
    const { status, body } = await info(session);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      connectors: [
        { id: 'outlook-mail', account: { ...ADA, tid: edge.oauth.tenantId } },
        { id: 'teams', account: { ...ADA, tid: edge.oauth.tenantId } },
      ],
    });
  });

  test('without a cookie, or with one for no session, no connector is connected', async () => {
    assert.deepEqual((await info(undefined)).body, { connectors: [] });
    const unknown = await info('A'.repeat(43));
    assert.deepEqual([unknown.status, unknown.body], [200, { connectors: [] }]);
    assert.match(unknown.cookies[0], /Max-Age=0/);
  });

  test('a foreign origin cannot read it', async () => {
    const { session } = await edge.connect('teams');
    const { status, body } = await info(session, { origin: 'https://evil.example' });
    assert.deepEqual([status, body.error], [403, 'invalid_origin']);
  });

  test('disconnect forgets that connector only: it leaves the session, and refresh asks to reconnect', async () => {
    const teams = await edge.connect('teams');
    const { session } = await edge.connect('outlook-mail', { session: teams.session });
    const gone = await edge.call('/oauth/connectors/teams/disconnect', { session });
    assert.deepEqual([gone.status, gone.body], [200, { status: 'disconnected' }]);
    assert.deepEqual((await info(session)).body.connectors.map((c) => c.id), ['outlook-mail']);
    const refresh = await edge.call('/oauth/connectors/teams/refresh', { session });
    assert.deepEqual([refresh.status, refresh.body.error, refresh.body.action], [401, 'not_connected', 'reconnect']);
    assert.equal((await edge.call('/oauth/connectors/outlook-mail/refresh', { session })).status, 200);
  });

  test('disconnect needs the allowed origin and the CSRF header', async () => {
    const { session } = await edge.connect('teams');
    const foreign = await edge.call('/oauth/connectors/teams/disconnect', { session, headers: { origin: 'https://evil.example' } });
    assert.deepEqual([foreign.status, foreign.body.error], [403, 'invalid_origin']);
    const noHeader = await edge.call('/oauth/connectors/teams/disconnect', { session, headers: { 'x-mailconnect': undefined } });
    assert.deepEqual([noHeader.status, noHeader.body.error], [403, 'missing_csrf_header']);
    assert.deepEqual((await info(session)).body.connectors.map((c) => c.id), ['teams']);
  });
});

describe('session lifetime and storage', () => {
  let edge;
  before(async () => {
    edge = await startEdge({ persist: true, vars: { SESSION_IDLE_SECONDS: '3', SESSION_MAX_SECONDS: '3600' } });
  });
  after(() => edge?.stop());

  test('storage holds no token, account or handle in the clear', async () => {
    const { session, body } = await edge.connect('teams');
    const dump = await persistedBytes(edge.persistDir);
    assert.ok(dump.includes('grant:teams'), 'the grant was persisted where this test looks');
    for (const secret of [body.access_token, session, 'Ada Lovelace', 'ada@contoso.dev']) {
      assert.ok(!dump.includes(secret), `found ${secret.slice(0, 12)}… in storage`);
    }
  });

  test('an idle session expires: 401 session_expired, the cookie is cleared, and its alarm deletes its storage', async () => {
    const { session } = await edge.connect('outlook-mail');
    assert.equal((await edge.call('/oauth/connectors/outlook-mail/refresh', { session })).status, 200);
    // Waits out the 3 s idle lifetime, with room for the alarm to run.
    await sleep(5000);
    // The alarm fired at the idle deadline, before any request could find the session expired.
    assert.ok(!(await persistedBytes(edge.persistDir)).includes('grant:outlook-mail'), 'the alarm deleted the grant');
    const { status, body, cookies } = await edge.call('/oauth/connectors/outlook-mail/refresh', { session });
    assert.deepEqual([status, body.error, body.action], [401, 'session_expired', 'reconnect']);
    assert.match(cookies[0], /^__Host-mailconnect-session=; Max-Age=0;/);
    assert.deepEqual((await edge.call('/oauth/session', { method: 'GET', session })).body, { connectors: [] });
  });

  test('connecting again after expiry starts a new session that works', async () => {
    const { session } = await edge.connect('teams');
    // Waits out the 3 s idle lifetime.
    await sleep(4000);
    const again = await edge.connect('teams', { session });
    assert.equal(again.status, 200);
    assert.equal((await edge.call('/oauth/connectors/teams/refresh', { session: again.session })).status, 200);
  });
});

describe('session lifetime limits', () => {
  let edge;
  before(async () => {
    edge = await startEdge({ vars: { SESSION_IDLE_SECONDS: '3600', SESSION_MAX_SECONDS: '6' } });
  });
  after(() => edge?.stop());

  test('a session in use still ends at its absolute lifetime', async () => {
    const { session } = await edge.connect('teams');
    // The session began before this point, so it ends before `connected + 6 s`.
    const connected = Date.now();
    for (let i = 0; i < 2; i++) {
      await sleep(1000);
      assert.equal((await edge.call('/oauth/connectors/teams/refresh', { session })).status, 200);
    }
    await sleep(connected + 6500 - Date.now());
    const { status, body } = await edge.call('/oauth/connectors/teams/refresh', { session });
    assert.deepEqual([status, body.error], [401, 'session_expired']);
  });
});
