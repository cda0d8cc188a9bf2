// The 8 KiB body cap on every route that reads a body, for bodies that declare no length: a
// chunked request is refused with 413 as soon as it passes the cap, while the client is still
// sending, instead of being buffered whole first. Run: node --test tests/edge/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ORIGIN, defaultConnectors, startEdge, upstreamCalls } from './harness.mjs';

const API_KEY = randomBytes(32).toString('base64');

/**
 * POSTs a chunked body (no Content-Length) to `path`: 16 KiB, then nothing more and no end, as
 * a client streaming a huge body would. Resolves to the status and JSON body of the answer, or
 * rejects if none comes within `timeout` ms (the Worker waiting for the end of the body).
 */
function postEndlessBody(url, path, headers, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...headers } });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${timeout} ms while the body was still being sent`));
    }, timeout);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(text) });
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.write('{"code":"');
    for (let i = 0; i < 16; i++) req.write('x'.repeat(1024));
  });
}

describe('request bodies without Content-Length', () => {
  let edge;
  before(async () => {
    edge = await startEdge({
      connectors: (oauth, certificate) => ({
        ...defaultConnectors(oauth, certificate),
        relay: { provider: 'microsoft', tenant: oauth.tenantId, authority: oauth.url, client_id: oauth.clients.daemon.id, scope: 'https://outlook.office365.com/.default', grant: 'client_credentials' },
      }),
      vars: (oauth) => ({ RELAY_CLIENT_SECRET: oauth.clients.daemon.secret, RELAY_API_KEYS: API_KEY }),
    });
  });
  after(() => edge?.stop());

  const browser = { origin: ORIGIN, 'x-mailconnect': '1' };
  for (const [route, path, headers] of [
    ['token', '/oauth/connectors/teams/token', browser],
    ['refresh', '/oauth/connectors/teams/refresh', browser],
    ['disconnect', '/oauth/connectors/teams/disconnect', browser],
    ['app-token', '/oauth/connectors/relay/app-token', { authorization: `Bearer ${API_KEY}` }],
  ]) {
    test(`${route}: a chunked body is refused with 413 at the cap, before it ends and before any upstream call`, async () => {
      const r = await postEndlessBody(edge.url, path, headers);
      assert.equal(r.status, 413, JSON.stringify(r.body));
      assert.equal(r.body.error, 'payload_too_large');
      assert.equal(await upstreamCalls(edge.oauth), 0);
    });
  }

  test('a chunked body within the cap is read whole', async () => {
    const { code, verifier, redirect_uri } = await edge.authorize('teams');
    const body = JSON.stringify({ code, code_verifier: verifier, redirect_uri });
    const r = await new Promise((resolve, reject) => {
      const req = request(`${edge.url}/oauth/connectors/teams/token`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...browser } });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      // In pieces, as a slow client sends them.
      for (let i = 0; i < body.length; i += 100) req.write(body.slice(i, i + 100));
      req.end();
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.access_token);
  });
});
