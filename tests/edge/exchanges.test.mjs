// Junk exchanges: POSTing made-up codes to /token must not make the edge call the provider
// without end. Failed exchanges are limited per client address (30 a minute) and per connector
// (600 a minute, from all addresses); beyond either, 429 with Retry-After and no provider call.
// Successful sign-ins are never counted. Run: node --test tests/edge/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { REDIRECT_URI, startEdge, upstreamCalls } from './harness.mjs';

const PER_CLIENT = 30;
const PER_CONNECTOR = 600;

describe('failed code exchanges', () => {
  let edge;
  before(async () => {
    edge = await startEdge();
  });
  after(() => edge?.stop());

  /** A made-up code from `ip`, as an attacker sends it. */
  const junk = (connector, ip) =>
    edge.call(`/oauth/connectors/${connector}/token`, {
      body: { code: `junk-${randomBytes(8).toString('hex')}`, code_verifier: randomBytes(32).toString('base64url'), redirect_uri: REDIRECT_URI },
      headers: { 'cf-connecting-ip': ip },
    });
  const exchanges = () => upstreamCalls(edge.oauth, 'authorization_code');

  test(`beyond ${PER_CLIENT} failed exchanges a minute from one address: 429 with Retry-After, and no provider call`, async () => {
    edge.oauth.reset();
    for (let i = 0; i < PER_CLIENT; i++) {
      const r = await junk('teams', '203.0.113.7');
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_grant']);
    }
    assert.equal(await exchanges(), PER_CLIENT);
    const limited = await junk('teams', '203.0.113.7');
    assert.deepEqual([limited.status, limited.body.error, limited.body.action], [429, 'too_many_requests', 'retry']);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(await exchanges(), PER_CLIENT, 'the limited exchange never reached the provider');

    // Another address signs in as usual.
    const other = await edge.call('/oauth/connectors/teams/token', {
      body: await edge.authorize('teams').then(({ code, verifier, redirect_uri }) => ({ code, code_verifier: verifier, redirect_uri })),
      headers: { 'cf-connecting-ip': '198.51.100.1' },
    });
    assert.equal(other.status, 200, JSON.stringify(other.body));
  });

  test(`successful sign-ins behind one address are not limited, ${PER_CLIENT + 5} in a row`, async () => {
    for (let i = 0; i < PER_CLIENT + 5; i++) {
      const { code, verifier, redirect_uri } = await edge.authorize('teams');
      const r = await edge.call('/oauth/connectors/teams/token', { body: { code, code_verifier: verifier, redirect_uri }, headers: { 'cf-connecting-ip': '198.51.100.2' } });
      assert.equal(r.status, 200, `sign-in ${i + 1}: ${JSON.stringify(r.body)}`);
    }
  });

  test(`beyond ${PER_CONNECTOR} failed exchanges a minute from many addresses, the connector is limited; others are not`, async () => {
    edge.oauth.reset();
    // 20 addresses, each within its own limit.
    const addresses = Array.from({ length: PER_CONNECTOR / PER_CLIENT }, (_, i) => `192.0.2.${i + 1}`);
    await Promise.all(addresses.map(async (ip) => {
      for (let i = 0; i < PER_CLIENT; i++) assert.equal((await junk('outlook-mail', ip)).status, 400);
    }));
    assert.equal(await exchanges(), PER_CONNECTOR);
    const limited = await junk('outlook-mail', '192.0.2.200');
    assert.deepEqual([limited.status, limited.body.error], [429, 'too_many_requests']);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(await exchanges(), PER_CONNECTOR, 'the limited exchange never reached the provider');
    assert.equal((await junk('teams', '192.0.2.200')).status, 400, 'another connector has its own count');
  });
});
