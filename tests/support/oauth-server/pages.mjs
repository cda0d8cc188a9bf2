// The sign-in and consent pages (GET|POST /login/{uid}), styled like Microsoft's, and the
// headless driver that goes through them over HTTP as a browser would.
import { GRAPH, OIDC_SCOPE_WORDS, RESOURCES, resourceOf } from './entra.mjs';
import { readBody, sendHtml } from './http.mjs';

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

export function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light; font-family: "Segoe UI", system-ui, -apple-system, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f2f2f2; color: #1b1b1b; }
  main { width: min(440px, 92vw); background: #fff; box-shadow: 0 2px 6px rgba(0,0,0,.2); padding: 44px; box-sizing: border-box; }
  .brand { display: flex; gap: 8px; align-items: center; font-weight: 600; color: #5e5e5e; margin-bottom: 16px; font-size: 15px; }
  .logo { display: grid; grid-template-columns: 10px 10px; gap: 2px; }
  .logo i { width: 10px; height: 10px; display: block; }
  h1 { font-size: 24px; font-weight: 600; margin: 0 0 12px; }
  p, li { font-size: 15px; line-height: 1.45; }
  label { display: block; font-size: 13px; color: #5e5e5e; margin-top: 12px; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box; border: 0; border-bottom: 1px solid #666; padding: 6px 0; font: inherit; font-size: 15px; outline: none; }
  input:focus { border-bottom-color: #0067b8; }
  .actions { display: flex; justify-content: flex-end; gap: 8px; margin-top: 28px; }
  button { font: inherit; font-size: 15px; min-width: 108px; padding: 6px 12px; border: 1px solid transparent; cursor: pointer; }
  button.primary { background: #0067b8; color: #fff; }
  button.secondary { background: #ccc; color: #1b1b1b; }
  .error { color: #e81123; font-size: 14px; }
  .user { font-size: 14px; color: #1b1b1b; margin-bottom: 8px; }
  ul { padding-left: 20px; }
  .dev { margin-top: 24px; font-size: 12px; color: #767676; }
</style></head>
<body><main>
<div class="brand"><span class="logo"><i style="background:#f25022"></i><i style="background:#7fba00"></i><i style="background:#00a4ef"></i><i style="background:#ffb900"></i></span>Microsoft (local test server)</div>
${body}
</main></body></html>`;
}

function loginPage(uid, client, users, login, error) {
  return page('Sign in to your account', `
<h1>Sign in</h1>
<p>to continue to <b>${escapeHtml(client?.clientName ?? client?.clientId ?? 'the app')}</b></p>
<form method="post" action="/login/${escapeHtml(uid)}" id="login-form">
  <label for="login">Email or phone</label>
  <input type="text" id="login" name="login" value="${escapeHtml(login)}" autocomplete="username">
  <label for="password">Password</label>
  <input type="password" id="password" name="password" value="password" autocomplete="current-password">
  ${error ? `<p class="error" id="error">${escapeHtml(error)}</p>` : ''}
  <div class="actions"><button class="primary" type="submit" id="signin">Sign in</button></div>
</form>
<p class="dev">Local test server: accounts ${users.map((u) => escapeHtml(u.username)).join(', ')}; any password.</p>`);
}

function consentPage(uid, client, user, scope) {
  const items = scope.split(' ').filter(Boolean).map((s) => {
    const resource = resourceOf(s);
    const name = resource && resource !== GRAPH ? s.slice(resource.length + 1) : s;
    return `<li>${escapeHtml(OIDC_SCOPE_WORDS[s] ?? RESOURCES[resource]?.[name] ?? s)} <small>(${escapeHtml(s)})</small></li>`;
  }).join('');
  return page('Permissions requested', `
<div class="user">${escapeHtml(user?.username ?? '')}</div>
<h1>Permissions requested</h1>
<p><b>${escapeHtml(client?.clientName ?? client?.clientId ?? 'This app')}</b> would like to:</p>
<ul id="scopes">${items}</ul>
<p>Accepting these permissions means that you allow this app to use your data as specified in their terms of service.</p>
<form method="post" action="/login/${escapeHtml(uid)}">
  <div class="actions">
    <button class="secondary" type="submit" name="decision" value="deny" id="deny">Deny</button>
    <button class="primary" type="submit" name="decision" value="accept" id="accept">Accept</button>
  </div>
</form>`);
}

/** The handler of `/login/{uid}` for `provider`'s interactions with `users`. */
export function interactions(provider, users) {
  const userById = new Map(users.map((u) => [u.sub, u]));
  const userByName = new Map(users.map((u) => [u.username.toLowerCase(), u]));
  return async function handleInteraction(req, res, uid) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return sendHtml(res, 400, page('Sign in', '<h1>This sign-in request expired</h1><p class="error" id="error">Close this window and connect again.</p>'));
    }
    if (details.uid !== uid) return sendHtml(res, 400, page('Sign in', '<h1>Wrong sign-in request</h1>'));
    const { prompt, params } = details;
    const client = await provider.Client.find(params.client_id);
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : undefined;

    if (prompt.name === 'login' || prompt.name === 'select_account') {
      if (form) {
        const user = userByName.get((form.get('login') ?? '').trim().toLowerCase());
        if (user && form.get('password')) {
          return provider.interactionFinished(req, res, { login: { accountId: user.sub }, select_account: {} }, { mergeWithLastSubmission: false });
        }
        return sendHtml(res, 200, loginPage(uid, client, users, form.get('login') ?? '', user ? 'Enter your password.' : 'This username may be incorrect. Make sure you typed it correctly.'));
      }
      return sendHtml(res, 200, loginPage(uid, client, users, params.login_hint ?? users[0].username));
    }

    if (prompt.name === 'consent') {
      if (form?.get('decision') === 'deny') {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.' }, { mergeWithLastSubmission: false });
      }
      if (form?.get('decision') === 'accept') {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
        if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
        if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
      }
      const user = userById.get(details.session.accountId);
      return sendHtml(res, 200, consentPage(uid, client, user, params.scope ?? ''));
    }
    return sendHtml(res, 400, page('Sign in', `<h1>Unsupported prompt ${escapeHtml(prompt.name)}</h1>`));
  };
}

/**
 * Drives the sign-in pages of the server at `url` over HTTP with a cookie jar, like a browser
 * would, from `authorizeUrl` to the redirect back to the client, whose URL it resolves to.
 */
export async function authorizeHeadless(url, authorizeUrl, { user, consent: decision = 'accept' }) {
  const jar = new Map();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const remember = (response) => {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
  };
  let next = new URL(authorizeUrl);
  let form;
  for (let hop = 0; hop < 20; hop += 1) {
    if (next.origin !== url) return next.href; // back at the client: the callback URL
    const response = await fetch(next, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { cookie: cookieHeader(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form) : undefined,
    });
    remember(response);
    form = undefined;
    if (response.status >= 300 && response.status < 400) {
      next = new URL(response.headers.get('location'), next);
      continue;
    }
    const html = await response.text();
    if (html.includes('id="login-form"')) form = { login: user, password: 'password' };
    else if (html.includes('id="accept"')) form = { decision };
    else throw new Error(`unexpected page at ${next.pathname} (${response.status}): ${html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  throw new Error('too many redirects');
}
