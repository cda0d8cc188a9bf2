// GET /oauth/health, what every response carries (CORS, no-store), the JSON 404/405 and the
// CORS preflight; and settings that are missing or malformed, the main module among them. Run:
// node --test tests/edge/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BUILD, defaultConnectors, ORIGIN, startEdge } from './harness.mjs';

describe('health, errors and CORS', () => {
  let edge;
  before(async () => {
    edge = await startEdge();
  });
  after(() => edge?.stop());

  test('health answers ok, uncacheable, with or without a query', async () => {
    for (const path of ['/oauth/health', '/oauth/health?probe=1']) {
      const response = await fetch(`${edge.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.deepEqual(await response.json(), { status: 'ok' });
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.headers.get('content-type'), 'application/json');
    }
  });

  test('health answers other methods 405 with the contract body, and a preflight like every route', async () => {
    for (const method of ['PUT', 'POST', 'HEAD']) {
      const response = await fetch(`${edge.url}/oauth/health`, { method, headers: { origin: ORIGIN } });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.headers.get('access-control-allow-origin'), ORIGIN);
      if (method !== 'HEAD') assert.equal((await response.json()).error, 'method_not_allowed');
    }
    const preflight = await fetch(`${edge.url}/oauth/health`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'GET' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    const longer = await edge.call('/oauth/health/more', { method: 'GET' });
    assert.equal(longer.status, 404);
  });

  test('unknown paths and methods answer the contract error body with 404 and 405', async () => {
    const missing = await edge.call('/oauth/nothing-here', { method: 'GET' });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: 'not_found', error_description: 'no such endpoint', action: 'none', retryable: false });
    const wrongMethod = await edge.call('/oauth/connectors/teams/token', { method: 'GET' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.body.error, 'method_not_allowed');
    const put = await edge.call('/oauth/health', { method: 'PUT' });
    assert.equal(put.status, 405);
  });

  test('responses to an allowed origin carry credentialed CORS headers, others none', async () => {
    const allowed = await fetch(`${edge.url}/oauth/health`, { headers: { origin: ORIGIN } });
    assert.equal(allowed.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(allowed.headers.get('vary'), 'Origin');
    const foreign = await fetch(`${edge.url}/oauth/health`, { headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  });

  test('a preflight from an allowed origin may POST JSON with the CSRF header', async () => {
    const response = await fetch(`${edge.url}/oauth/connectors/teams/token`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-mailconnect' },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(response.headers.get('access-control-allow-methods'), 'GET, POST');
    assert.equal(response.headers.get('access-control-allow-headers'), 'content-type, x-mailconnect');
    assert.equal(response.headers.get('access-control-allow-credentials'), 'true');
  });

  test('a preflight from another origin is refused', async () => {
    const response = await fetch(`${edge.url}/oauth/connectors/teams/token`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(response.status, 403);
    assert.equal((await response.json()).error, 'invalid_origin');
    assert.equal(response.headers.get('access-control-allow-origin'), null);
  });
});

describe('settings', () => {
  /** Starts a Worker with `vars` changed, and returns its health answer. */
  async function healthWith(vars, connectors) {
    const edge = await startEdge({ vars, connectors });
    try {
      const response = await fetch(`${edge.url}/oauth/health`);
      return { status: response.status, body: await response.json() };
    } finally {
      await edge.stop();
    }
  }

  function assertConfigurationError({ status, body }, setting) {
    assert.equal(status, 503);
    assert.equal(body.error, 'configuration_error');
    assert.equal(body.action, 'configuration');
    assert.equal(body.retryable, false);
    assert.ok(body.error_description.startsWith(`setting ${setting}:`), body.error_description);
  }

  test('without SESSION_KEYS or SESSION_KEY every request fails with an error naming SESSION_KEYS', async () => {
    assertConfigurationError(await healthWith({ SESSION_KEY: undefined }), 'SESSION_KEYS');
  });

  test('a short SESSION_KEY is refused without echoing it', async () => {
    const answer = await healthWith({ SESSION_KEY: 'tooShort-s3cr3t' });
    assertConfigurationError(answer, 'SESSION_KEY');
    assert.ok(!answer.body.error_description.includes('tooShort-s3cr3t'));
  });

  test('a missing client secret is named after its connector', async () => {
    assertConfigurationError(await healthWith({ TEAMS_CLIENT_SECRET: undefined }), 'TEAMS_CLIENT_SECRET');
  });

  test('a malformed connector setting is named with its path', async () => {
    const answer = await healthWith({}, (oauth, certificate) => {
      const connectors = defaultConnectors(oauth, certificate);
      connectors.teams.tenant = 'not a tenant';
      return connectors;
    });
    assertConfigurationError(answer, 'CONNECTORS.teams.tenant');
  });

  test('an origin with a path is not an origin', async () => {
    assertConfigurationError(await healthWith({ ALLOWED_ORIGINS: `${ORIGIN}/app` }), 'ALLOWED_ORIGINS');
  });

  test("a Worker deployed without its entry module names wrangler.toml's main instead of failing obscurely", async () => {
    const edge = await startEdge({ script: BUILD });
    try {
      const session = randomBytes(32).toString('base64url');
      const answer = await edge.call('/oauth/connectors/teams/refresh', { session });
      assertConfigurationError(answer, 'main');
      assert.match(answer.body.error_description, /crates\/edge\/entry\.mjs/);
    } finally {
      await edge.stop();
    }
  });
});
