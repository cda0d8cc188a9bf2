// The resources the local OAuth server's tokens are for, as far as the tests need them: Graph's
// /me (and its calendar, graph-calendar.mjs), and Exchange Online's XOAUTH2 check.
import { randomUUID, verify as verifySignature } from 'node:crypto';
import { createGraphCalendar } from '../graph-calendar.mjs';
import { GRAPH, OUTLOOK } from './entra.mjs';
import { readBody, sendJson } from './http.mjs';

const XOAUTH2_SCOPES = { IMAP: 'IMAP.AccessAsUser.All', POP: 'POP.AccessAsUser.All', SMTP: 'SMTP.Send' };
const GRAPH_ME_SCOPES = ['User.Read', 'User.ReadWrite', 'User.ReadBasic.All', 'User.Read.All', 'Directory.Read.All'];

/**
 * The resource routes for tokens `issuer` signed with `verifyKey`. `bump(name)` counts a call
 * ('graph', 'xoauth2'). Returns { calendar, handle(req, res, pathname), verifyAccessToken }, where `handle`
 * resolves to false for a path that is none of theirs.
 */
export function createResources({ url, issuer, verifyKey, users, bump }) {
  const userById = new Map(users.map((u) => [u.sub, u]));

  function verifyAccessToken(token, audience) {
    const parts = token.split('.');
    if (parts.length !== 3) return { error: 'Invalid JWT token. The token is not in JWS compact format.' };
    const ok = verifySignature('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), verifyKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return { error: 'Invalid JWT token. Token signature is invalid.' };
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== issuer) return { error: 'Invalid JWT token. Unknown issuer.' };
    if (!(claims.exp > now)) return { error: 'Lifetime validation failed, the token is expired.' };
    if (claims.aud !== audience) return { error: 'Invalid audience.' };
    return { claims };
  }

  function handleGraphMe(req, res) {
    bump('graph');
    const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'www-authenticate' };
    const challenge = (error, description) =>
      `Bearer realm="", authorization_uri="${url}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"${error ? `, error="${error}", error_description="${description}"` : ''}`;
    const fail = (status, code, message, error) => sendJson(res, status, { error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID() } } },
      { ...cors, ...(status === 401 ? { 'www-authenticate': challenge(error, message) } : {}) });
    const auth = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!match) return fail(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    const { claims, error } = verifyAccessToken(match[1], GRAPH);
    if (error) return fail(401, 'InvalidAuthenticationToken', error, 'invalid_token');
    const scopes = (claims.scp ?? '').split(' ');
    if (!GRAPH_ME_SCOPES.some((s) => scopes.includes(s))) {
      return fail(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    }
    const user = userById.get(claims.sub);
    if (!user) return fail(404, 'Request_ResourceNotFound', 'The user does not exist.');
    return sendJson(res, 200, {
      '@odata.context': `${url}/graph/v1.0/$metadata#users/$entity`,
      businessPhones: [],
      displayName: user.name,
      givenName: user.givenName,
      jobTitle: user.jobTitle,
      mail: user.username,
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: 'en-GB',
      surname: user.surname,
      userPrincipalName: user.username,
      id: user.oid,
    }, cors);
  }

  // What Exchange Online checks when a mail client authenticates with XOAUTH2 (RFC 7628 form).
  async function handleXoauth2(req, res) {
    bump('xoauth2');
    const cors = { 'access-control-allow-origin': '*' };
    let input;
    try {
      input = JSON.parse(await readBody(req));
    } catch {
      return sendJson(res, 400, { ok: false, response: 'A1 BAD Invalid request body.' }, cors);
    }
    const tag = { IMAP: 'A1 ', POP: '', SMTP: '' }[input?.protocol];
    if (tag === undefined) return sendJson(res, 400, { ok: false, response: 'protocol must be IMAP, POP or SMTP' }, cors);
    const fail = { IMAP: 'A1 NO AUTHENTICATE failed.', POP: '-ERR Authentication failure: unknown user name or bad password.', SMTP: '535 5.7.3 Authentication unsuccessful' }[input.protocol];
    const sasl = Buffer.from(String(input.xoauth2 ?? ''), 'base64').toString('utf8');
    const parsed = /^user=([^\x01]+)\x01auth=Bearer ([^\x01]+)\x01\x01$/.exec(sasl);
    if (!parsed) return sendJson(res, 200, { ok: false, response: fail, reason: 'not an XOAUTH2 initial response' }, cors);
    const { claims, error } = verifyAccessToken(parsed[2], OUTLOOK);
    const scopes = (claims?.scp ?? '').split(' ');
    const reason = error
      ?? (!scopes.includes(XOAUTH2_SCOPES[input.protocol]) ? `the token lacks ${XOAUTH2_SCOPES[input.protocol]}` : undefined)
      ?? (claims.preferred_username?.toLowerCase() !== parsed[1].toLowerCase() ? `the token is not for ${parsed[1]}` : undefined);
    if (reason) return sendJson(res, 200, { ok: false, response: fail, reason }, cors);
    const ok = { IMAP: 'A1 OK AUTHENTICATE completed.', POP: '+OK User successfully authenticated.', SMTP: '235 2.7.0 Authentication successful' }[input.protocol];
    return sendJson(res, 200, { ok: true, response: ok, user: claims.preferred_username }, cors);
  }

  /** A CORS preflight answered for any origin, allowing `method` with `header`. */
  function preflight(res, method, header) {
    res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-headers': header, 'access-control-allow-methods': method, 'access-control-max-age': '600' });
    res.end();
  }

  const calendar = createGraphCalendar({ verifyAccessToken, readBody, sendJson });

  async function handle(req, res, pathname) {
    if (pathname === '/graph/v1.0/me') {
      if (req.method === 'OPTIONS') preflight(res, 'GET', 'authorization');
      else handleGraphMe(req, res);
      return true;
    }
    if (pathname.startsWith('/graph/v1.0/me/')) {
      await calendar.handle(req, res, pathname.slice('/graph/v1.0'.length));
      return true;
    }
    if (pathname === '/outlook/xoauth2') {
      if (req.method === 'OPTIONS') {
        preflight(res, 'POST', 'content-type');
        return true;
      }
      if (req.method === 'POST') {
        await handleXoauth2(req, res);
        return true;
      }
    }
    return false;
  }

  return { calendar, handle, verifyAccessToken };
}
