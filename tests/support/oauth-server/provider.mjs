// The OpenID provider itself: oidc-provider configured as Entra's v2 endpoints behave (paths,
// claims, consent, refresh-token rotation, the password grant), its registered clients, and the
// token endpoint's Entra-shaped errors and bookkeeping around oidc-provider's own handling.
import { createPublicKey, randomBytes } from 'node:crypto';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import { APP_ROLES, GRAPH, RESOURCES, entraError, resourceOf, resourceScopes, traced } from './entra.mjs';
import { authMethodOf } from './hooks.mjs';
import { escapeHtml, page } from './pages.mjs';

const { Check, Prompt, base: basePolicy } = interactionPolicy;

// Marks an authorize request whose `offline_access` we kept by adding `prompt=consent`:
// oidc-provider drops offline_access without that prompt (OIDC Core 11), Entra does not.
const IMPLICIT_CONSENT = 'x_mailconnect_implicit_consent';

/** Adds `prompt=consent` (flagged as implicit) so oidc-provider keeps offline_access, as Entra does. */
export function keepOfflineAccess(query) {
  const params = new URLSearchParams(query);
  const scopes = (params.get('scope') ?? '').split(' ');
  const prompts = (params.get('prompt') ?? '').split(' ').filter(Boolean);
  if (!scopes.includes('offline_access') || prompts.includes('consent') || prompts.includes('none')) return query;
  params.set('prompt', [...prompts, 'consent'].join(' '));
  params.set(IMPLICIT_CONSENT, '1');
  return `?${params}`;
}

/** A minimal in-memory adapter that also implements the refresh-token rotation modes. */
function memoryAdapter(store, mode) {
  const live = (key) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    return store.get(key)?.payload;
  };
  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
      store.set(this.key(id), { payload, expiresAt });
      if (this.model === 'Session') store.set(`SessionUid:${payload.uid}`, { payload: id, expiresAt });
    }

    async find(id) {
      const payload = live(this.key(id));
      if (this.model === 'RefreshToken' && payload?.consumed) {
        // A rotated-away refresh token: dead under strict rotation, still good under "rotate".
        if (mode.rotation === 'strict') return undefined;
        const { consumed, ...usable } = payload;
        return usable;
      }
      return payload;
    }

    async findByUid(uid) {
      const id = live(`SessionUid:${uid}`);
      return id && this.find(id);
    }

    async findByUserCode() {
      return undefined;
    }

    async consume(id) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const [key, { payload }] of store) {
        if (payload?.grantId === grantId) store.delete(key);
      }
    }
  };
}

/** The registered clients: `clientIds` as startOAuthServer resolved them. */
function registeredClients({ clientIds, redirectUris, certificate }) {
  const clients = [
    {
      client_id: clientIds.secret.id,
      client_secret: clientIds.secret.secret,
      client_name: 'Contoso Webmail (mailconnect dev)',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: clientIds.daemon.id,
      client_secret: clientIds.daemon.secret,
      client_name: 'Contoso Mail Relay (mailconnect dev)',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: clientIds.mailbox.id,
      client_secret: clientIds.mailbox.secret,
      client_name: 'Contoso Mail Relay, service mailbox (mailconnect dev)',
      redirect_uris: [],
      grant_types: ['password'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ];
  if (certificate) {
    const jwk = createPublicKey(certificate.publicKeyPem).export({ format: 'jwk' });
    clients.push({
      client_id: clientIds.certificate.id,
      client_name: 'Contoso Webmail, certificate credential (mailconnect dev)',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [{ ...jwk, use: 'sig', alg: 'RS256' }] },
    });
  }
  return clients;
}

/**
 * The provider for `issuer`, mounted by the server under /{tenant}. `mode` and `store` are the
 * server's live mode and token store, `bookkeeping` its counters (hooks.mjs).
 */
export function createProvider({ issuer, tenantId, users, clientIds, redirectUris, certificate, mailboxPassword, rejectOrigin, signingJwk, mode, store, bookkeeping, log }) {
  const userById = new Map(users.map((u) => [u.sub, u]));
  const userByName = new Map(users.map((u) => [u.username.toLowerCase(), u]));
  const tokenErrors = new WeakMap();
  const thumbprint = certificate?.thumbprint
    ? Buffer.from(certificate.thumbprint.replace(/[^0-9a-f]/gi, ''), 'hex').toString('base64url')
    : undefined;

  function resourceServerInfo(resource, appOnly) {
    if (!RESOURCES[resource]) throw new errors.InvalidTarget(`unknown resource ${resource}`);
    return {
      // Client credentials take only `{resource}/.default`, as in Entra.
      scope: appOnly ? `${resource}/.default` : resourceScopes(resource).join(' '),
      audience: resource,
      accessTokenFormat: 'jwt',
      accessTokenTTL: mode.accessTokenTtl,
      jwt: { sign: { alg: 'RS256' } },
    };
  }

  const policy = basePolicy();
  // Entra-like consent: `prompt=consent` we added only to keep offline_access forces nothing.
  const consent = policy.get('consent');
  consent.checks.remove('consent_prompt');
  consent.checks.add(new Check('consent_prompt', 'consent prompt was not resolved', 'consent_required', (ctx) =>
    ctx.oidc.prompts.has('consent') && ctx.oidc.promptPending('consent') && !ctx.oidc.params[IMPLICIT_CONSENT]), 0);
  // Entra's `prompt=select_account` shows the account picker even with a session.
  policy.add(new Prompt({ name: 'select_account', requestable: true }), 0);

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(store, mode),
    clients: registeredClients({ clientIds, redirectUris, certificate }),
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub', 'oid', 'tid', 'ver'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      email: ['email'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    conformIdTokenClaims: false, // Entra puts name/preferred_username in the ID token itself.
    extraParams: [IMPLICIT_CONSENT, 'domain_hint'],
    pkce: { required: () => true },
    clientBasedCORS: () => false,
    responseTypes: ['code'],
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      revocation: '/oauth2/v2.0/revoke',
      jwks: '/discovery/v2.0/keys',
      end_session: '/oauth2/v2.0/logout',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // A client may revoke only its own tokens (the default policy also lets confidential
      // clients revoke others' tokens, and warns about it).
      revocation: { enabled: true, allowedPolicy: (ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Entra picks the resource from the scopes; there is no `resource` parameter in v2.
        defaultResource: (ctx) => {
          const scopes = (ctx.oidc.params.scope ?? '').split(' ').filter(Boolean);
          return scopes.map(resourceOf).find(Boolean) ?? GRAPH;
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => resourceServerInfo(resource, ctx.oidc.params?.grant_type === 'client_credentials'),
      },
    },
    extraTokenClaims: (ctx, token) => {
      const resource = token.resourceServer?.audience;
      const claims = { ver: '2.0', tid: tenantId, azp: token.clientId };
      if (token.kind === 'ClientCredentials') {
        return { ...claims, roles: APP_ROLES[resource] ?? [], oid: token.clientId };
      }
      const user = userById.get(token.accountId);
      const prefix = resource === GRAPH ? '' : `${resource}/`;
      const scp = (token.scope ?? '').split(' ').filter((s) => s && resourceOf(s) === resource && !s.endsWith('/.default'))
        .map((s) => (prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s));
      return { ...claims, scp: scp.join(' '), oid: user?.oid, name: user?.name, preferred_username: user?.username };
    },
    async findAccount(ctx, sub) {
      const user = userById.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            oid: user.oid,
            tid: tenantId,
            ver: '2.0',
            name: user.name,
            given_name: user.givenName,
            family_name: user.surname,
            preferred_username: user.username,
            email: user.username,
          };
        },
      };
    },
    expiresWithSession: () => false,
    issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: () => mode.rotation !== 'off',
    ttl: {
      AccessToken: () => mode.accessTokenTtl,
      ClientCredentials: () => mode.accessTokenTtl,
      AuthorizationCode: () => 600,
      IdToken: () => 3600,
      Interaction: () => 3600,
      Session: () => 24 * 3600,
      Grant: () => 90 * 24 * 3600,
      RefreshToken: () => 90 * 24 * 3600,
    },
    interactions: { policy, url: (ctx, interaction) => `/login/${interaction.uid}` },
    async assertJwtClientAuthClaimsAndHeader(ctx, claims, header) {
      if (thumbprint && header.x5t !== thumbprint) {
        throw new errors.InvalidClientAuth('x5t does not match the registered certificate');
      }
    },
    async renderError(ctx, out) {
      const code = out.error === 'invalid_redirect_uri' || /redirect_uri/.test(out.error_description ?? '') ? 50011
        : out.error === 'invalid_client' ? 700016 : undefined;
      const title = code ? `AADSTS${code}: ${out.error_description}` : `${out.error}: ${out.error_description}`;
      ctx.type = 'html';
      ctx.body = page('Sign in', `<h1>Sorry, but we’re having trouble signing you in.</h1><p class="error" id="error">${escapeHtml(title)}</p>`);
    },
  });
  // The resource owner password grant (RFC 6749 §4.3), which oidc-provider does not ship: the
  // user's password stands in for the sign-in, and the token is the one a sign-in would give.
  provider.registerGrantType('password', async (ctx) => {
    const { client, params } = ctx.oidc;
    const user = userByName.get(String(params.username ?? '').trim().toLowerCase());
    if (!user || params.password !== mailboxPassword) throw new errors.InvalidGrant('invalid username or password');
    const requested = String(params.scope ?? '').split(' ').filter(Boolean);
    const resource = requested.map(resourceOf).find(Boolean) ?? GRAPH;
    const info = resourceServerInfo(resource, false);
    const known = new Set(info.scope.split(' '));
    const prefix = resource === GRAPH ? '' : `${resource}/`;
    const scope = requested.filter((s) => known.has(s) || known.has(`${prefix}${s}`)).join(' ');
    if (!scope) throw new errors.InvalidScope('no scope of a known resource requested');
    const token = new ctx.oidc.provider.AccessToken({ accountId: user.sub, client, scope, gty: 'password' });
    token.resourceServer = { ...info, identifier: () => resource, get scopes() { return known; } };
    const value = await token.save();
    ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope };
  }, ['username', 'password', 'scope']);
  provider.on('grant.error', (ctx, err) => tokenErrors.set(ctx, err));
  provider.on('server_error', (ctx, err) => console.error('[oauth-server] server error', err));

  // Token endpoint bookkeeping and Entra's error shape, around oidc-provider's own handling.
  provider.use(async (ctx, next) => {
    if (!(ctx.method === 'POST' && ctx.path === '/oauth2/v2.0/token')) return next();
    if (rejectOrigin && ctx.get('origin')) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', ...traced(9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '" + ctx.get('origin') + "'.") };
      bookkeeping.record({ grant_type: undefined, client_id: undefined, auth_method: undefined, origin: ctx.get('origin'), status: 400, error: 'invalid_request', error_codes: [9002326] });
      return undefined;
    }
    await next();
    const params = ctx.oidc?.params ?? {};
    const grantType = params.grant_type ?? 'unknown';
    const clientId = ctx.oidc?.client?.clientId ?? params.client_id ?? 'unknown';
    if (ctx.body?.error) {
      const err = tokenErrors.get(ctx);
      const entra = entraError(ctx.body, err?.error_detail, { clientId, tenant: ctx.req.tenant, redirectUri: params.redirect_uri });
      if (entra) Object.assign(ctx.body, traced(...entra));
    } else if (ctx.body?.expires_in) {
      ctx.body.ext_expires_in = ctx.body.expires_in;
    }
    const authMethod = authMethodOf(ctx.get('authorization'), params);
    bookkeeping.count(grantType, clientId);
    bookkeeping.record({ grant_type: grantType, client_id: clientId, auth_method: authMethod, origin: ctx.get('origin') || null, status: ctx.status, error: ctx.body?.error, error_codes: ctx.body?.error_codes });
    log('token', grantType, clientId, ctx.status, ctx.body?.error ?? '');
    return undefined;
  });

  // Revocation bookkeeping; oidc-provider answers the request itself.
  provider.use(async (ctx, next) => {
    if (!(ctx.method === 'POST' && ctx.path === '/oauth2/v2.0/revoke')) return next();
    await next();
    const params = ctx.oidc?.params ?? {};
    bookkeeping.countRevocation(params.token_type_hint, authMethodOf(ctx.get('authorization'), params));
    log('revocation', params.token_type_hint ?? '', ctx.status, ctx.body?.error ?? '');
    return undefined;
  });

  return provider;
}
