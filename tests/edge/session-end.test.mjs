// A refresh racing the end of its session: the absolute-lifetime alarm deletes the session while
// a refresh is waiting for the provider, in an object that restarted since the connect (so it
// knows no per-connector state). The refresh must not write its grant back afterwards.
// Run: node --test tests/edge/
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { persistedBytes, startEdge } from './harness.mjs';

const LIFETIME = 5;
let edge;
before(async () => {
  edge = await startEdge({ persist: true, vars: { SESSION_IDLE_SECONDS: '3600', SESSION_MAX_SECONDS: String(LIFETIME), UPSTREAM_TIMEOUT_MS: '10000' } });
});
after(() => edge?.stop());

test('a refresh that spans the end of the session never writes its grant back', async () => {
  const { session, status } = await edge.connect('teams');
  assert.equal(status, 200);
  const began = Date.now();
  await edge.restart();
  // The provider answers after the session's lifetime alarm has ended the session.
  edge.oauth.setMode({ slow: (LIFETIME + 1) * 1000 });
  assert.ok(Date.now() - began < (LIFETIME - 1) * 1000, 'the refresh starts well within the session');
  const refreshed = await edge.call('/oauth/connectors/teams/refresh', { session });
  assert.ok(Date.now() - began > LIFETIME * 1000, 'the refresh ended after the session');
  assert.deepEqual([refreshed.status, refreshed.body.error, refreshed.body.action], [401, 'session_expired', 'reconnect']);
  assert.match(refreshed.cookies[0], /^__Host-mailconnect-session=; Max-Age=0;/);
  assert.ok(!(await persistedBytes(edge.persistDir)).includes('grant:teams'), 'no grant record came back after the session was deleted');

  // A new session under the same cookie holds only what is connected in it.
  edge.oauth.setMode({ slow: 0 });
  const again = await edge.connect('outlook-mail', { session });
  assert.equal(again.status, 200);
  const { body } = await edge.call('/oauth/session', { method: 'GET', session: again.session });
  assert.deepEqual(body.connectors.map((c) => c.id), ['outlook-mail']);
});
