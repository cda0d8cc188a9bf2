// GET /oauth/connectors/{id}: the public half of a connector. Run: node --test tests/edge/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAIL_SCOPE, REDIRECT_URI, startEdge, TEAMS_SCOPE } from './harness.mjs';

describe('GET /oauth/connectors/{id}', () => {
  let edge;
  before(async () => {
    edge = await startEdge();
  });
  after(() => edge?.stop());

  test('gives the authorize URL, client id, scope and redirect URIs, and no secret', async () => {
    const { status, body, headers } = await edge.call('/oauth/connectors/teams', { method: 'GET' });
    assert.equal(status, 200);
    assert.deepEqual(body, {
      id: 'teams',
      authorize_url: `${edge.oauth.url}/organizations/oauth2/v2.0/authorize`,
      client_id: edge.oauth.clients.secret.id,
      scope: TEAMS_SCOPE,
      redirect_uris: [REDIRECT_URI],
      // organizations: any tenant's issuer at the configured authority; the local OAuth server sends `iss` always.
      issuer: `${edge.oauth.url}/{tenantid}/v2.0`,
      authorization_response_iss_parameter_supported: true,
      admin_consent_url:
        `${edge.oauth.url}/organizations/v2.0/adminconsent?client_id=mailconnect-dev` +
        '&scope=openid+profile+User.Read+Calendars.ReadBasic+Calendars.Read+Calendars.ReadWrite+offline_access' +
        '&redirect_uri=http%3A%2F%2Flocalhost%3A8787%2Fcallback&state=mailconnect-admin-consent',
    });
    assert.equal(headers.get('cache-control'), 'no-store');
    assert.ok(!JSON.stringify(body).includes(edge.oauth.clients.secret.secret));
  });

  test('a certificate connector shows neither its key nor its thumbprint, and gives the issuer of its tenant', async () => {
    const { status, body } = await edge.call('/oauth/connectors/outlook-mail', { method: 'GET' });
    assert.equal(status, 200);
    assert.equal(body.scope, MAIL_SCOPE);
    assert.equal(body.issuer, edge.oauth.issuer);
    assert.equal(body.authorization_response_iss_parameter_supported, true);
    const text = JSON.stringify(body);
    assert.ok(!text.includes('PRIVATE KEY') && !text.includes(edge.certificate.thumbprint) && !text.includes('client_auth'), text);
  });

  test('an unknown connector is 404 unknown_connector', async () => {
    const { status, body } = await edge.call('/oauth/connectors/zoom', { method: 'GET' });
    assert.equal(status, 404);
    assert.equal(body.error, 'unknown_connector');
  });

  test('a foreign origin cannot read it', async () => {
    const { status, body, headers } = await edge.call('/oauth/connectors/teams', { method: 'GET', headers: { origin: 'https://evil.example' } });
    assert.equal(status, 403);
    assert.equal(body.error, 'invalid_origin');
    assert.equal(headers.get('access-control-allow-origin'), null);
  });
});

describe('GET /oauth/connectors/{id}: admin consent', () => {
  let edge;
  before(async () => {
    edge = await startEdge({
      connectors: (oauth) => {
        const common = { client_id: oauth.clients.secret.id, scope: 'User.Read offline_access', redirect_uris: [REDIRECT_URI, 'http://localhost:8787/other'] };
        return {
          work: { provider: 'microsoft', tenant: oauth.tenantId, authority: oauth.url, ...common },
          personal: { provider: 'microsoft', tenant: 'consumers', authority: oauth.url, ...common },
          zoom: { provider: 'zoom', authority: oauth.url, ...common },
          generic: { provider: 'generic', authorize_url: oauth.authorizeUrl(), token_url: oauth.tokenUrl(), ...common },
        };
      },
      vars: (oauth) => Object.fromEntries(['WORK', 'PERSONAL', 'ZOOM', 'GENERIC'].map((id) => [`${id}_CLIENT_SECRET`, oauth.clients.secret.secret])),
    });
  });
  after(() => edge?.stop());

  const info = async (id) => {
    const { status, body } = await edge.call(`/oauth/connectors/${id}`, { method: 'GET' });
    assert.equal(status, 200, JSON.stringify(body));
    return body;
  };

  test("a Microsoft connector of a tenant gives its tenant's admin-consent URL, back to its first redirect URI", async () => {
    assert.equal(
      (await info('work')).admin_consent_url,
      `${edge.oauth.url}/${edge.oauth.tenantId}/v2.0/adminconsent?client_id=mailconnect-dev&scope=User.Read+offline_access` +
        '&redirect_uri=http%3A%2F%2Flocalhost%3A8787%2Fcallback&state=mailconnect-admin-consent',
    );
  });

  test('personal accounts (consumers), Zoom and generic connectors have no admin consent', async () => {
    for (const id of ['personal', 'zoom', 'generic']) assert.ok(!('admin_consent_url' in (await info(id))), id);
  });
});
