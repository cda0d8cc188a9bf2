// POST /oauth/connectors/{id}/app-token: app-only tokens for mail servers, with an API key.
// Client credentials by secret and by certificate, the resource owner password grant of a
// service mailbox, the per-connector cache (hit, miss, margin, single flight), API keys (401,
// same answer for unknown and wrong keys, rotation, 429 after repeated failures for bad keys only), browser calls
// refused, XOAUTH2 strings, and the `mailconnect` CLI against the running Worker.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { buildCli } from '../support/cli.mjs';
import { ORIGIN, defaultConnectors, startEdge, upstreamCalls } from './harness.mjs';

const run = promisify(execFile);
const APP_SCOPE = 'https://outlook.office365.com/.default';
const MAILBOX_SCOPE = 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send';
const key = () => randomBytes(32).toString('base64');
const KEYS = { relay: key(), relayNext: key(), cert: key(), twin: key(), burst: key(), margin: key(), mailbox: key() };

/** The default browser connectors plus app-token connectors of every kind. */
function appConnectors(oauth, certificate) {
  const app = (clientId, extra = {}) => ({
    provider: 'microsoft', tenant: oauth.tenantId, authority: oauth.url, client_id: clientId, scope: APP_SCOPE, grant: 'client_credentials', ...extra,
  });
  const certificateAuth = { client_auth: 'private_key_jwt', certificate_thumbprint: certificate.thumbprint };
  return {
    ...defaultConnectors(oauth, certificate),
    relay: app(oauth.clients.daemon.id),
    'relay-twin': app(oauth.clients.daemon.id),
    'relay-burst': app(oauth.clients.daemon.id),
    'relay-margin': app(oauth.clients.daemon.id, { token_expiry_margin: 30 }),
    'relay-cert': app(oauth.clients.certificate.id, certificateAuth),
    mailbox: app(oauth.clients.mailbox.id, { grant: 'password', username: 'ada@contoso.dev', scope: MAILBOX_SCOPE }),
    'mailbox-wrong': app(oauth.clients.mailbox.id, { grant: 'password', username: 'ada@contoso.dev', scope: MAILBOX_SCOPE }),
  };
}

function appVars(oauth, certificate) {
  return {
    RELAY_CLIENT_SECRET: oauth.clients.daemon.secret,
    // Two keys, as during a rotation; comma and space both separate.
    RELAY_API_KEYS: `${KEYS.relay}, ${KEYS.relayNext}`,
    RELAY_TWIN_CLIENT_SECRET: oauth.clients.daemon.secret,
    RELAY_TWIN_API_KEYS: KEYS.twin,
    RELAY_BURST_CLIENT_SECRET: oauth.clients.daemon.secret,
    RELAY_BURST_API_KEYS: KEYS.burst,
    RELAY_MARGIN_CLIENT_SECRET: oauth.clients.daemon.secret,
    RELAY_MARGIN_API_KEYS: KEYS.margin,
    RELAY_CERT_PRIVATE_KEY: certificate.privateKeyPem,
    RELAY_CERT_API_KEYS: KEYS.cert,
    MAILBOX_CLIENT_SECRET: oauth.clients.mailbox.secret,
    MAILBOX_PASSWORD: 'dev-mailbox-password',
    MAILBOX_API_KEYS: KEYS.mailbox,
    MAILBOX_WRONG_CLIENT_SECRET: oauth.clients.mailbox.secret,
    MAILBOX_WRONG_PASSWORD: 'not-the-password',
    MAILBOX_WRONG_API_KEYS: KEYS.mailbox,
  };
}

/** What a mail server sends: no Origin, a bearer API key, a JSON body. */
async function appToken(edge, id, { apiKey, body = {}, headers = {} } = {}) {
  const init = { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  if (apiKey) init.headers.authorization = `Bearer ${apiKey}`;
  const response = await fetch(`${edge.url}/oauth/connectors/${id}/app-token`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
const lastRequest = async (oauth) => (await oauth.requests()).at(-1);

describe('POST /oauth/connectors/{id}/app-token', () => {
  let edge;
  before(async () => {
    // Hour-long tokens, so only the margin test's connector sees one expire.
    edge = await startEdge({ oauth: { accessTokenTtl: 3600 }, connectors: appConnectors, vars: appVars });
  });
  after(() => edge?.stop());

  test('client credentials with a client secret give an app-only Exchange token', async () => {
    const r = await appToken(edge, 'relay', { apiKey: KEYS.relay });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.scope, APP_SCOPE);
    assert.ok(r.body.expires_in > 3500 && r.body.expires_at > Date.now() / 1000 + 3500);
    const c = claims(r.body.access_token);
    assert.equal(c.aud, 'https://outlook.office365.com');
    assert.deepEqual(c.roles, ['SMTP.SendAsApp', 'IMAP.AccessAsApp', 'POP.AccessAsApp']);
    assert.equal(c.azp, edge.oauth.clients.daemon.id);
    assert.equal(r.body.xoauth2, undefined, 'no user, no SASL strings');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('set-cookie'), null);
    const upstream = (await edge.oauth.requests()).find((q) => q.grant_type === 'client_credentials' && q.client_id === edge.oauth.clients.daemon.id);
    assert.deepEqual([upstream.auth_method, upstream.origin, upstream.status], ['client_secret_basic', null, 200]);
  });

  test('client credentials with a certificate assertion', async () => {
    const r = await appToken(edge, 'relay-cert', { apiKey: KEYS.cert, body: '' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(claims(r.body.access_token).azp, edge.oauth.clients.certificate.id);
    const upstream = await lastRequest(edge.oauth);
    assert.deepEqual([upstream.grant_type, upstream.auth_method, upstream.status], ['client_credentials', 'private_key_jwt', 200]);
  });

  test('a cached token is answered without an upstream call, and either rotation key works', async () => {
    const first = await appToken(edge, 'relay', { apiKey: KEYS.relay });
    const calls = await upstreamCalls(edge.oauth);
    const second = await appToken(edge, 'relay', { apiKey: KEYS.relayNext });
    assert.equal(second.status, 200);
    assert.equal(second.body.access_token, first.body.access_token);
    assert.equal(second.body.expires_at, first.body.expires_at);
    assert.equal(await upstreamCalls(edge.oauth), calls);
  });

  test('a token within token_expiry_margin of its expiry is renewed on the next call', async () => {
    // 30 s tokens under a 30 s margin are never fresh: every call goes upstream.
    edge.oauth.setMode({ accessTokenTtl: 30 });
    const before = await upstreamCalls(edge.oauth, 'client_credentials');
    const a = await appToken(edge, 'relay-margin', { apiKey: KEYS.margin });
    const b = await appToken(edge, 'relay-margin', { apiKey: KEYS.margin });
    assert.ok(a.body.expires_in <= 30);
    assert.notEqual(a.body.access_token, b.body.access_token);
    assert.equal(await upstreamCalls(edge.oauth, 'client_credentials'), before + 2);
    // 45 s tokens have 15 s beyond the margin: the next call is a hit.
    edge.oauth.setMode({ accessTokenTtl: 45 });
    const c = await appToken(edge, 'relay-margin', { apiKey: KEYS.margin });
    const d = await appToken(edge, 'relay-margin', { apiKey: KEYS.margin });
    assert.equal(d.body.access_token, c.body.access_token);
    assert.equal(await upstreamCalls(edge.oauth, 'client_credentials'), before + 3);
    edge.oauth.setMode({ accessTokenTtl: 3600 });
  });

  test('concurrent calls during a miss make one upstream call and share its token', async () => {
    edge.oauth.setMode({ slow: 300 });
    const before = await upstreamCalls(edge.oauth, 'client_credentials');
    const results = await Promise.all(Array.from({ length: 12 }, () => appToken(edge, 'relay-burst', { apiKey: KEYS.burst })));
    edge.oauth.setMode({ slow: 0 });
    assert.deepEqual(results.map((r) => r.status), Array(12).fill(200));
    assert.equal(new Set(results.map((r) => r.body.access_token)).size, 1);
    assert.equal(await upstreamCalls(edge.oauth, 'client_credentials'), before + 1);
  });

  test('connectors with identical settings never share a token, nor accept each other\'s keys', async () => {
    const relay = await appToken(edge, 'relay', { apiKey: KEYS.relay });
    const before = await upstreamCalls(edge.oauth, 'client_credentials');
    const twin = await appToken(edge, 'relay-twin', { apiKey: KEYS.twin });
    assert.equal(twin.status, 200);
    assert.notEqual(twin.body.access_token, relay.body.access_token);
    assert.equal(await upstreamCalls(edge.oauth, 'client_credentials'), before + 1);
    assert.equal((await appToken(edge, 'relay-twin', { apiKey: KEYS.relay, headers: { 'cf-connecting-ip': '198.51.100.1' } })).status, 401);
  });

  test('missing, unknown and wrong API keys get the same 401 with a Bearer challenge, before any upstream call', async () => {
    const calls = await upstreamCalls(edge.oauth);
    const nearMiss = KEYS.relay.slice(0, -2) + (KEYS.relay.endsWith('AA') ? 'BB' : 'AA');
    const answers = [];
    for (const apiKey of [undefined, key(), nearMiss, KEYS.cert, `${KEYS.relay}x`]) {
      answers.push(await appToken(edge, 'relay', { apiKey, headers: { 'cf-connecting-ip': '198.51.100.2' } }));
    }
    for (const r of answers) {
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate'), /^Bearer realm="mailconnect"/);
      assert.deepEqual(r.body, answers[0].body);
    }
    assert.deepEqual(answers[0].body, {
      error: 'invalid_api_key', error_description: 'a valid API key is required (Authorization: Bearer <key>)', action: 'configuration', retryable: false,
    });
    const basic = await appToken(edge, 'relay', { headers: { authorization: `Basic ${KEYS.relay}`, 'cf-connecting-ip': '198.51.100.2' } });
    assert.equal(basic.status, 401);
    assert.equal(await upstreamCalls(edge.oauth), calls);
  });

  test('ten bad keys from one client make its bad keys wait with 429 and Retry-After; a valid key from the same address is still served', async () => {
    const attacker = { 'cf-connecting-ip': '203.0.113.7' };
    for (let i = 0; i < 10; i++) assert.equal((await appToken(edge, 'relay', { apiKey: key(), headers: attacker })).status, 401);
    const blocked = await appToken(edge, 'relay', { apiKey: key(), headers: attacker });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.body.error, 'too_many_requests');
    assert.equal(blocked.body.retryable, true);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    // A relay behind the same address (a NAT, a shared host) holds a valid key: never locked out by its neighbour.
    assert.equal((await appToken(edge, 'relay', { apiKey: KEYS.relay, headers: attacker })).status, 200, 'a valid key is never refused for failures');
    assert.equal((await appToken(edge, 'relay', { apiKey: key(), headers: attacker })).status, 429, 'the bad keys still wait');
    assert.equal((await appToken(edge, 'relay', { apiKey: key(), headers: { 'cf-connecting-ip': '203.0.113.8' } })).status, 401, 'other clients are not affected');
  });

  test('bad keys from rotating IPv6 addresses of one /64 count as one client', async () => {
    for (let i = 1; i <= 10; i++) {
      assert.equal((await appToken(edge, 'relay', { apiKey: key(), headers: { 'cf-connecting-ip': `2001:db8:77:1::${i.toString(16)}` } })).status, 401);
    }
    assert.equal((await appToken(edge, 'relay', { apiKey: key(), headers: { 'cf-connecting-ip': '2001:db8:77:1:ffff:1:2:3' } })).status, 429);
    assert.equal((await appToken(edge, 'relay', { apiKey: key(), headers: { 'cf-connecting-ip': '2001:db8:77:2::1' } })).status, 401, 'the next /64 is another client');
  });

  test('a browser call (Origin header) is refused without CORS headers, even from an allowed origin', async () => {
    const r = await appToken(edge, 'relay', { apiKey: KEYS.relay, headers: { origin: ORIGIN } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'invalid_origin');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });

  test('app-token connectors do not exist for the browser routes, which take no API key', async () => {
    assert.equal((await edge.call('/oauth/connectors/relay', { method: 'GET' })).status, 404);
    const refresh = await edge.call('/oauth/connectors/relay/refresh', { session: 'a'.repeat(43), headers: { authorization: `Bearer ${KEYS.relay}` } });
    assert.deepEqual([refresh.status, refresh.body.error], [404, 'unknown_connector']);
    const teams = await edge.call('/oauth/connectors/teams/refresh', { headers: { authorization: `Bearer ${KEYS.relay}` } });
    assert.deepEqual([teams.status, teams.body.error], [401, 'no_session']);
  });

  test('a browser connector refuses app tokens, and no body field can carry a password', async () => {
    const calls = await upstreamCalls(edge.oauth);
    const teams = await appToken(edge, 'teams', { apiKey: KEYS.relay });
    assert.deepEqual([teams.status, teams.body.error, teams.body.action], [400, 'app_tokens_not_enabled', 'configuration']);
    for (const body of [{ user: 'relay@contoso.dev', password: 'x' }, { username: 'ada@contoso.dev', password: 'dev-mailbox-password' }]) {
      const r = await appToken(edge, 'relay', { apiKey: KEYS.relay, body });
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_request']);
      assert.match(r.body.error_description, /unknown field/);
    }
    const mailbox = await appToken(edge, 'mailbox', { apiKey: KEYS.mailbox, body: { password: 'dev-mailbox-password' } });
    assert.equal(mailbox.status, 400);
    assert.equal((await appToken(edge, 'nope', { apiKey: KEYS.relay })).status, 404);
    assert.equal(await upstreamCalls(edge.oauth), calls);
  });

  test('the password grant, where enabled, signs in the configured service mailbox', async () => {
    const r = await appToken(edge, 'mailbox', { apiKey: KEYS.mailbox, body: { user: 'ada@contoso.dev' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const c = claims(r.body.access_token);
    assert.deepEqual([c.preferred_username, c.aud, c.azp], ['ada@contoso.dev', 'https://outlook.office.com', edge.oauth.clients.mailbox.id]);
    const upstream = (await edge.oauth.requests()).filter((q) => q.grant_type === 'password').at(-1);
    assert.deepEqual([upstream.auth_method, upstream.status], ['client_secret_basic', 200]);
    // The Exchange stand-in accepts the SASL strings for SMTP and POP.
    const check = async (protocol, xoauth2) => (await fetch(`${edge.oauth.url}/outlook/xoauth2`, { method: 'POST', body: JSON.stringify({ protocol, xoauth2 }) })).json();
    assert.equal((await check('SMTP', r.body.xoauth2)).ok, true);
    assert.equal((await check('POP', r.body.xoauth2_pop3.split('\r\n')[1])).ok, true);
  });

  test('a wrong service mailbox password is Entra\'s invalid_grant 50126, an admin\'s to fix', async () => {
    const r = await appToken(edge, 'mailbox-wrong', { apiKey: KEYS.mailbox });
    assert.equal(r.status, 400);
    assert.deepEqual([r.body.error, r.body.error_codes, r.body.action], ['invalid_grant', [50126], 'configuration']);
    assert.match(r.body.error_description, /user name or password is wrong/);
  });

  test('with a user, the XOAUTH2 strings decode to user=…^Aauth=Bearer <token>^A^A', async () => {
    const r = await appToken(edge, 'relay', { apiKey: KEYS.relay, body: { user: 'relay@contoso.dev' } });
    assert.equal(r.status, 200);
    const decoded = Buffer.from(r.body.xoauth2, 'base64').toString('utf8');
    assert.equal(decoded, `user=relay@contoso.dev\x01auth=Bearer ${r.body.access_token}\x01\x01`);
    assert.equal(r.body.xoauth2_pop3, `AUTH XOAUTH2\r\n${r.body.xoauth2}`);
  });

  test('a user with control characters is refused before any upstream call', async () => {
    const calls = await upstreamCalls(edge.oauth);
    for (const user of ['relay@contoso.dev\r\nQUIT', 'a\x01b@contoso.dev', '']) {
      const r = await appToken(edge, 'relay-twin', { apiKey: KEYS.twin, body: { user } });
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_request'], JSON.stringify(user));
    }
    assert.equal(await upstreamCalls(edge.oauth), calls);
  });

  describe('the mailconnect CLI', () => {
    let cli;
    before(async () => {
      cli = await buildCli();
    });

    const mailconnect = (args, apiKey) => run(cli, ['app-token', ...args], { env: { ...process.env, MAILCONNECT_API_KEY: apiKey } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );

    test('prints the XOAUTH2 string the Worker made for the user', async () => {
      const out = await mailconnect(['--edge', `${edge.url}/oauth`, '--connector', 'relay', '--user', 'relay@contoso.dev'], KEYS.relay);
      assert.equal(out.code, 0, out.stderr);
      const token = (await appToken(edge, 'relay', { apiKey: KEYS.relay })).body.access_token;
      assert.equal(Buffer.from(out.stdout.trim(), 'base64').toString('utf8'), `user=relay@contoso.dev\x01auth=Bearer ${token}\x01\x01`);
    });

    test('a wrong key exits 1 with the edge\'s message; an unreachable edge exits 75', async () => {
      const wrong = await mailconnect(['--edge', `${edge.url}/oauth`, '--connector', 'relay', '--user', 'relay@contoso.dev'], key());
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /a valid API key is required .*invalid_api_key/);
      const down = await mailconnect(['--edge', 'http://127.0.0.1:9/oauth', '--connector', 'relay', '--token'], KEYS.relay);
      assert.equal(down.code, 75, down.stderr);
    });
  });
});

test('client credentials with tenant common are a configuration error naming the setting', async () => {
  const edge = await startEdge({
    connectors: (oauth, certificate) => ({ ...appConnectors(oauth, certificate), relay: { ...appConnectors(oauth, certificate).relay, tenant: 'common' } }),
    vars: appVars,
  });
  try {
    const r = await appToken(edge, 'relay', { apiKey: KEYS.relay });
    assert.equal(r.status, 503);
    assert.deepEqual([r.body.error, r.body.action], ['configuration_error', 'configuration']);
    assert.match(r.body.error_description, /^setting CONNECTORS\.relay\.tenant: grant = "client_credentials" needs a specific tenant/);
  } finally {
    await edge.stop();
  }
});
