// POST /oauth/connectors/{id}/token: the code exchange, its guards, and the provider's refusals
// and failures. Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { generateCertificateKey } from '../support/oauth-server.mjs';
import { defaultConnectors, ORIGIN, REDIRECT_URI, SESSION_COOKIE, startEdge, upstreamCalls } from './harness.mjs';

/** A port that refuses connections: bound, then closed. */
async function closedPort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

describe('POST /oauth/connectors/{id}/token', () => {
  let edge;
  const otherKey = generateCertificateKey();
  before(async () => {
    const gone = await closedPort();
    edge = await startEdge({
      connectors: (oauth, certificate) => ({
        ...defaultConnectors(oauth, certificate),
        // The same key as outlook-mail, announced with another certificate's thumbprint.
        'wrong-cert': { ...defaultConnectors(oauth, certificate)['outlook-mail'], certificate_thumbprint: otherKey.thumbprint },
        // A provider nobody listens for.
        gone: { ...defaultConnectors(oauth, certificate).teams, authority: `http://127.0.0.1:${gone}` },
      }),
      vars: (oauth, certificate) => ({ WRONG_CERT_PRIVATE_KEY: certificate.privateKeyPem, GONE_CLIENT_SECRET: 'x' }),
    });
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  async function exchange(connector, body, options) {
    return edge.call(`/oauth/connectors/${connector}/token`, { body, ...options });
  }

  test('returns an access token and the account, never a refresh token, and sets the session cookie', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { status, body, cookies, headers } = await edge.connect('teams');
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'account', 'expires_at', 'expires_in', 'scope', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.ok(body.expires_in > 50 && body.expires_in <= 60, `expires_in ${body.expires_in}`);
    assert.ok(Math.abs(body.expires_at - (before + 60)) <= 2);
    assert.deepEqual(body.account, { name: 'Ada Lovelace', username: 'ada@contoso.dev', oid: '5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', tid: edge.oauth.tenantId });
    assert.equal(headers.get('cache-control'), 'no-store');
    assert.equal(cookies.length, 1);
    assert.match(cookies[0], new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=7776000; Path=/; HttpOnly; Secure; SameSite=Strict$`));
  });

  test('redeems upstream as a confidential client, without an Origin header', async () => {
    await edge.connect('teams');
    const [request] = edge.oauth.requests();
    assert.equal(request.grant_type, 'authorization_code');
    assert.equal(request.auth_method, 'client_secret_basic');
    assert.equal(request.origin, null);
    assert.equal(request.status, 200);
  });

  test("the certificate connector's RS256 client assertion is accepted by the server", async () => {
    const { status, body } = await edge.connect('outlook-mail');
    assert.equal(status, 200, JSON.stringify(body));
    const [request] = edge.oauth.requests();
    assert.deepEqual([request.client_id, request.auth_method, request.status], ['mailconnect-cert', 'private_key_jwt', 200]);
  });

  test("an assertion naming another certificate is refused upstream: 502, configuration, AADSTS700027", async () => {
    const { status, body } = await edge.connect('wrong-cert');
    assert.equal(status, 502);
    assert.equal(body.error, 'invalid_client');
    assert.equal(body.action, 'configuration');
    assert.deepEqual(body.error_codes, [700027]);
  });

  test('a second connector joins the session of the cookie, which continues under a fresh handle', async () => {
    const first = await edge.connect('teams');
    const second = await edge.connect('outlook-mail', { session: first.session });
    assert.equal(second.status, 200);
    assert.notEqual(second.session, first.session);
    const listed = await edge.call('/oauth/session', { method: 'GET', session: second.session });
    assert.deepEqual(listed.body.connectors.map((c) => c.id), ['outlook-mail', 'teams']);
    const old = await edge.call('/oauth/connectors/teams/refresh', { session: first.session });
    assert.deepEqual([old.status, old.body.error], [401, 'session_expired'], 'the previous handle opens nothing any more');
  });

  describe('is refused before anything goes upstream', () => {
    let grant;
    beforeEach(async () => {
      grant = await edge.authorize('teams');
      edge.oauth.reset();
    });
    const valid = () => ({ code: grant.code, code_verifier: grant.verifier, redirect_uri: grant.redirect_uri });

    async function refused(response, status, error, action = 'none') {
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal(response.body.error, error);
      assert.equal(response.body.action, action);
      assert.equal(response.body.retryable, false);
      assert.equal(response.cookies.length, 0);
      assert.equal(await upstreamCalls(edge.oauth), 0, 'nothing may reach the provider');
    }

    test('from a foreign origin', async () => {
      await refused(await exchange('teams', valid(), { headers: { origin: 'https://evil.example' } }), 403, 'invalid_origin');
    });

    test('without an Origin header', async () => {
      await refused(await exchange('teams', valid(), { headers: { origin: undefined } }), 403, 'invalid_origin');
    });

    test('without the x-mailconnect header', async () => {
      await refused(await exchange('teams', valid(), { headers: { 'x-mailconnect': undefined } }), 403, 'missing_csrf_header');
    });

    test('with a form body, as a cross-site form would send', async () => {
      const form = new URLSearchParams(valid()).toString();
      await refused(await exchange('teams', form, { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    });

    test('with a body over 8 KiB', async () => {
      await refused(await exchange('teams', { ...valid(), code: 'x'.repeat(9000) }), 413, 'payload_too_large');
    });

    test('with an unknown field', async () => {
      await refused(await exchange('teams', { ...valid(), client_secret: 'guess' }), 400, 'invalid_request');
    });

    test('with a missing field', async () => {
      const { redirect_uri: _, ...rest } = valid();
      await refused(await exchange('teams', rest), 400, 'invalid_request');
    });

    test('with a verifier of the wrong charset or length, without echoing it', async () => {
      for (const code_verifier of ['short', `${'a'.repeat(43)}+`, 'a'.repeat(129)]) {
        const response = await exchange('teams', { ...valid(), code_verifier });
        await refused(response, 400, 'invalid_request');
        assert.ok(!JSON.stringify(response.body).includes(code_verifier));
      }
    });

    test('with a code that is not printable ASCII', async () => {
      await refused(await exchange('teams', { ...valid(), code: 'a b' }), 400, 'invalid_request');
    });

    test('with a redirect URI that is not exactly a configured one', async () => {
      for (const redirect_uri of [`${REDIRECT_URI}/`, `${REDIRECT_URI}?x=1`, `${ORIGIN}/other.html`]) {
        await refused(await exchange('teams', { ...valid(), redirect_uri }), 400, 'invalid_redirect_uri', 'configuration');
      }
    });

    test('for an unknown connector', async () => {
      await refused(await exchange('nope', valid()), 404, 'unknown_connector');
    });
  });

  test('a reused code is refused upstream: 400 invalid_grant, reconnect, AADSTS54005', async () => {
    const grant = await edge.authorize('teams');
    const body = { code: grant.code, code_verifier: grant.verifier, redirect_uri: grant.redirect_uri };
    assert.equal((await exchange('teams', body)).status, 200);
    const again = await exchange('teams', body);
    assert.equal(again.status, 400);
    assert.deepEqual([again.body.error, again.body.action, again.body.retryable], ['invalid_grant', 'reconnect', false]);
    assert.deepEqual(again.body.error_codes, [54005]);
  });

  test('a verifier that does not match the challenge is refused upstream with AADSTS501481', async () => {
    const grant = await edge.authorize('teams');
    const wrong = randomBytes(32).toString('base64url');
    const { status, body } = await exchange('teams', { code: grant.code, code_verifier: wrong, redirect_uri: grant.redirect_uri });
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
    assert.deepEqual(body.error_codes, [501481]);
    assert.ok(!JSON.stringify(body).includes(wrong));
  });

  test('an unreachable provider is 502 upstream_unreachable, retryable', async () => {
    const code = randomBytes(24).toString('base64url');
    const { status, body } = await exchange('gone', { code, code_verifier: randomBytes(32).toString('base64url'), redirect_uri: REDIRECT_URI });
    assert.equal(status, 502);
    assert.deepEqual([body.error, body.action, body.retryable], ['upstream_unreachable', 'retry', true]);
    assert.ok(!JSON.stringify(body).includes('127.0.0.1'), 'no internal detail is echoed');
  });

  test('a provider that is down is 502, retryable, with its AADSTS code', async () => {
    const grant = await edge.authorize('teams');
    edge.oauth.setMode({ down: true });
    const { status, body } = await exchange('teams', { code: grant.code, code_verifier: grant.verifier, redirect_uri: grant.redirect_uri });
    assert.equal(status, 502);
    assert.deepEqual([body.error, body.action, body.retryable], ['temporarily_unavailable', 'retry', true]);
    assert.deepEqual(body.error_codes, [90033]);
  });

  test('a slow provider times out: 504 upstream_timeout, retryable', async () => {
    const grant = await edge.authorize('teams');
    edge.oauth.setMode({ slow: 4000 });
    const started = Date.now();
    const { status, body } = await exchange('teams', { code: grant.code, code_verifier: grant.verifier, redirect_uri: grant.redirect_uri });
    assert.equal(status, 504);
    assert.deepEqual([body.error, body.action, body.retryable], ['upstream_timeout', 'retry', true]);
    assert.ok(Date.now() - started < 3900, 'answered at UPSTREAM_TIMEOUT_MS, not when the provider did');
  });
});
