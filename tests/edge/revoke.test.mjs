// POST /oauth/connectors/{id}/disconnect with RFC 7009 revocation at the provider: Zoom's
// /oauth/revoke, a generic provider's `revocation_url`, none for Microsoft (Entra ID has no such
// endpoint). The edge forgets the grant, answers, and only then revokes, once, in the background.
// Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../support/until.mjs';
import { REDIRECT_URI, defaultConnectors, startEdge } from './harness.mjs';

// The stand-in server gives a refresh token only for offline_access, and knows Graph's scopes.
const SCOPE = 'User.Read offline_access';

describe('disconnect revokes at the provider', () => {
  let edge;
  before(async () => {
    edge = await startEdge({
      connectors: (oauth, certificate) => {
        const idp = {
          provider: 'generic',
          authorize_url: `${oauth.url}/${oauth.tenantId}/oauth2/v2.0/authorize`,
          token_url: `${oauth.url}/${oauth.tenantId}/oauth2/v2.0/token`,
          revocation_url: `${oauth.url}/${oauth.tenantId}/oauth2/v2.0/revoke`,
          client_id: oauth.clients.secret.id,
          client_auth: 'client_secret_post',
          scope: SCOPE,
          redirect_uris: [REDIRECT_URI],
        };
        return {
          ...defaultConnectors(oauth, certificate),
          zoom: { provider: 'zoom', authority: oauth.url, client_id: oauth.clients.secret.id, scope: SCOPE, redirect_uris: [REDIRECT_URI] },
          idp,
          // The same provider, with the certificate client.
          'idp-cert': { ...idp, client_id: oauth.clients.certificate.id, client_auth: 'private_key_jwt', certificate_thumbprint: certificate.thumbprint },
        };
      },
      vars: (oauth, certificate) => ({
        ZOOM_CLIENT_SECRET: oauth.clients.secret.secret,
        IDP_CLIENT_SECRET: oauth.clients.secret.secret,
        IDP_CERT_PRIVATE_KEY: certificate.privateKeyPem,
      }),
    });
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  const disconnect = (id, session) => edge.call(`/oauth/connectors/${id}/disconnect`, { session });
  const connectedIds = async (session) => (await edge.call('/oauth/session', { method: 'GET', session })).body.connectors.map((c) => c.id);
  const revocations = () => edge.oauth.counters().revocation;

  /** Connects `id` in a new session; resolves to the session and the refresh token the edge got. */
  async function connected(id) {
    const before = new Set(edge.oauth.refreshTokens());
    const { status, body, session } = await edge.connect(id);
    assert.equal(status, 200, JSON.stringify(body));
    const held = edge.oauth.refreshTokens().filter((t) => !before.has(t));
    assert.equal(held.length, 1, 'the code exchange issued one refresh token');
    return { session, refreshToken: held[0] };
  }

  /** Connects `id`, disconnects it, and waits for the one revocation, which must authenticate
   * with `authMethod`; resolves to the session and the refresh token the edge held. */
  async function disconnectedAndRevoked(id, authMethod) {
    const held = await connected(id);
    const gone = await disconnect(id, held.session);
    assert.deepEqual([gone.status, gone.body], [200, { status: 'disconnected' }]);
    await revocationsReach(1);
    assert.deepEqual(revocations(), { total: 1, by_token_type_hint: { refresh_token: 1 }, by_auth_method: { [authMethod]: 1 } });
    return held;
  }

  /** Waits (at most 10 s) until the server has counted `n` revocation requests. */
  async function revocationsReach(n) {
    await until(() => revocations().total >= n, `${n} revocation requests`, { describe: () => JSON.stringify(revocations()) });
    assert.equal(revocations().total, n, JSON.stringify(revocations()));
  }

  /** The provider's answer to the refresh token, presented by the client itself (HTTP Basic). */
  async function refreshAtProvider(tokenUrl, refreshToken) {
    const { id, secret } = edge.oauth.clients.secret;
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    return { status: response.status, body: await response.json() };
  }

  test("disconnecting a Zoom connector revokes the refresh token the edge held, once, with Zoom's HTTP Basic", async () => {
    const { session, refreshToken } = await disconnectedAndRevoked('zoom', 'client_secret_basic');
    const dead = await refreshAtProvider(`${edge.oauth.url}/oauth/token`, refreshToken);
    assert.deepEqual([dead.status, dead.body.error, dead.body.error_codes], [400, 'invalid_grant', [70008]]);
    assert.deepEqual(await connectedIds(session), []);
    const refresh = await edge.call('/oauth/connectors/zoom/refresh', { session });
    assert.deepEqual([refresh.status, refresh.body.error], [401, 'not_connected']);
  });

  test('a generic revocation_url is used with the token endpoint\'s client authentication (client_secret_post)', async () => {
    const { refreshToken } = await disconnectedAndRevoked('idp', 'client_secret_post');
    const dead = await refreshAtProvider(edge.oauth.tokenUrl(), refreshToken);
    assert.deepEqual([dead.status, dead.body.error], [400, 'invalid_grant']);
  });

  test('a certificate connector revokes with a client assertion, which the provider accepts', async () => {
    const { refreshToken } = await disconnectedAndRevoked('idp-cert', 'private_key_jwt');
    await until(() => !edge.oauth.refreshTokens().includes(refreshToken), 'revocation of the refresh token at the provider', { timeout: 5000 });
  });

  test('with the provider down, disconnect still answers and forgets, and revocation is tried once', async () => {
    const { session, refreshToken } = await connected('zoom');
    edge.oauth.setMode({ down: true });
    const gone = await disconnect('zoom', session);
    assert.deepEqual([gone.status, gone.body], [200, { status: 'disconnected' }]);
    assert.deepEqual(await connectedIds(session), []);
    await revocationsReach(1);
    // No retry: nothing more arrives (an absence, so a fixed wait: a retry would come well within
    // it), and the token the provider never revoked still works there.
    await sleep(1500);
    assert.equal(revocations().total, 1);
    edge.oauth.setMode({ down: false });
    assert.equal((await refreshAtProvider(`${edge.oauth.url}/oauth/token`, refreshToken)).status, 200);
  });

  test('disconnect does not wait for a slow provider', async () => {
    const { session } = await connected('zoom');
    // Longer than the harness's UPSTREAM_TIMEOUT_MS (2 s): the edge gives up on it.
    edge.oauth.setMode({ slow: 3000 });
    const started = Date.now();
    const gone = await disconnect('zoom', session);
    assert.deepEqual([gone.status, gone.body], [200, { status: 'disconnected' }]);
    assert.ok(Date.now() - started < 1500, `disconnect took ${Date.now() - started} ms`);
    // The server counts the request once it has served it, after its delay; waiting for that
    // keeps it out of the next test's counters.
    await revocationsReach(1);
  });

  test('a Zoom refresh in flight when the user disconnects: the caller is told not_connected, and the token it brought back is revoked too', async () => {
    edge.oauth.setMode({ rotation: 'strict', accessTokenTtl: 60 });
    // 60 s tokens are inside the edge's 300 s margin: the refresh goes to the provider.
    const { session } = await connected('zoom');
    const before = new Set(edge.oauth.refreshTokens());
    edge.oauth.setMode({ slow: 1000 });
    const refreshing = edge.call('/oauth/connectors/zoom/refresh', { session });
    await until(() => edge.oauth.held() === 1, 'refresh request held at the provider');
    assert.deepEqual((await disconnect('zoom', session)).body, { status: 'disconnected' });
    const refreshed = await refreshing;
    assert.deepEqual([refreshed.status, refreshed.body.error], [401, 'not_connected']);
    // The old refresh token at disconnect, the rotated one when the refresh came back.
    await revocationsReach(2);
    const rotated = edge.oauth.refreshTokens().filter((t) => !before.has(t));
    assert.equal(rotated.length, 0, 'the provider holds no live refresh token for the disconnected user');
    assert.deepEqual(await connectedIds(session), []);
  });

  test("a Microsoft connector's disconnect makes no revocation call: its refresh token keeps working", async () => {
    const { session, refreshToken } = await connected('teams');
    const gone = await disconnect('teams', session);
    assert.deepEqual([gone.status, gone.body], [200, { status: 'disconnected' }]);
    // An absence, so a fixed wait: a Zoom connector's revocation comes well within it.
    await sleep(1000);
    assert.equal(revocations().total, 0);
    assert.equal((await refreshAtProvider(edge.oauth.tokenUrl('organizations'), refreshToken)).status, 200);
  });
});
