// The local mailconnect stack at one origin: the Entra-like OAuth server (oauth-server.mjs), then
// the edge Worker in workerd (`wrangler dev`) serving www/ as static assets and /oauth/*.
//
// Tests:  const stack = await startStack({ accessTokenTtl: 5 });
//         ... stack.url (http://localhost:<port>), stack.oauth (the OAuth server's API) ...
//         await stack.stop();
// Dev:    node tests/support/stack.mjs [--port 8787] [--oauth-port 9010] [--access-token-ttl 90] [--https] [--users]
//         runs until Ctrl-C (scripts/dev.sh does this), or exits 1 saying which part died when
//         wrangler/workerd or the OAuth server stops under it.
//
// The Worker must be built first (scripts/build-edge.sh) and the npm package copied to www/pkg
// (scripts/build-web.sh). wrangler runs on a copy of wrangler.toml without its [build] table (so
// it never rebuilds), with paths made absolute, in a directory of its own under .wrangler/stacks/.
// Secrets and the connector settings for this stack go to an env file passed with --env-file:
// `.dev.vars` at the repository root for the dev stack on port 8787 (gitignored), a file in the
// stack's directory otherwise. The Durable Object state is thrown away at stop.
//
// Connectors of the local stack (overriding CONNECTORS and ALLOWED_ORIGINS of wrangler.toml):
//   teams         tenant "organizations", client secret (HTTP Basic), Microsoft Graph calendar scopes
//   outlook-mail  the OAuth server's tenant ID (so the redirect's `iss` is checked), certificate
//                 (private_key_jwt, a key pair made at start), IMAP/POP/SMTP scopes
//   smtp-relay    app tokens for mail servers (grant client_credentials, the daemon client,
//                 https://outlook.office365.com/.default); its API key is made at start
//                 (`stack.appApiKey`, printed by the dev runner)
//   zoom          provider "zoom" with the OAuth server as its base URL (Zoom's /oauth/authorize and
//                 /oauth/token paths), client secret (HTTP Basic), its own redirect URI
//                 (/callback-zoom; the Microsoft connectors share /callback); Zoom's strict
//                 refresh-token rotation with option `rotation: 'strict'` or the OAuth server's
//                 POST /_test/mode
// Only the authority differs from production: it is the local OAuth server. Its metadata (oidc-
// provider's) advertises authorization_response_iss_parameter_supported, so the Microsoft
// connectors say so too: a redirect without `iss` is refused, as for any provider that sends it.
//
// Two modes. Browser-bound (the default): an edge session belongs to a browser. Users (option
// `users`): the demo webmail's back end (demo-backend.mjs) signs Ada or Grace in and mints tickets
// with an Ed25519 key made at start; the edge gets its public key (USER_TICKET_KEYS), a USER_ID_KEY
// and the back end's API key for the users routes (BACKEND_API_KEYS, `stack.backendApiKey`; teams
// and outlook-mail have backend_access), so every session is bound to a webmail user.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { connect, createServer } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDemoBackend } from './demo-backend.mjs';
import { generateCertificateKey, startOAuthServer } from './oauth-server.mjs';
import { localCertificate } from './tls.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WRANGLER = join(REPO, 'node_modules/wrangler/bin/wrangler.js');

// In wrangler.toml's order, so what the edge echoes matches it.
export const TEAMS_SCOPE = 'openid profile User.Read Calendars.ReadBasic Calendars.Read Calendars.ReadWrite offline_access';
export const MAIL_SCOPE = 'openid profile https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access';

/** The two browser connectors every stack has: Teams by client secret, Outlook mail by certificate. */
export function devConnectors(oauth, certificate, redirectUri) {
  return {
    teams: {
      provider: 'microsoft',
      tenant: 'organizations',
      authority: oauth.url,
      client_id: oauth.clients.secret.id,
      scope: TEAMS_SCOPE,
      redirect_uris: [redirectUri],
      client_auth: 'client_secret_basic',
      authorization_response_iss_parameter_supported: true,
    },
    'outlook-mail': {
      provider: 'microsoft',
      tenant: oauth.tenantId,
      authority: oauth.url,
      client_id: oauth.clients.certificate.id,
      scope: MAIL_SCOPE,
      redirect_uris: [redirectUri],
      client_auth: 'private_key_jwt',
      certificate_thumbprint: certificate.thumbprint,
      authorization_response_iss_parameter_supported: true,
    },
  };
}

/** A free TCP port on 127.0.0.1 (there is a small race until wrangler binds it; fine on loopback). */
export async function freePort() {
  const server = createServer();
  await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/**
 * wrangler.toml without [build], with `main` and the assets directory made absolute; `assets`
 * replaces the assets directory when given.
 */
async function stackConfig(source, target, assets) {
  const base = dirname(source);
  const lines = (await readFile(source, 'utf8')).split('\n');
  let inBuild = false;
  const kept = [];
  for (const line of lines) {
    const table = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
    if (table) inBuild = table[1] === 'build' || table[1].startsWith('build.');
    if (inBuild) continue;
    const path = /^(\s*(main|directory)\s*=\s*)"([^"]+)"(.*)$/.exec(line);
    if (path && path[2] === 'directory' && assets) kept.push(`${path[1]}${JSON.stringify(assets)}${path[4]}`);
    else kept.push(path && !isAbsolute(path[3]) ? `${path[1]}${JSON.stringify(resolve(base, path[3]))}${path[4]}` : line);
  }
  await writeFile(target, kept.join('\n'));
}

/**
 * A line of wrangler's env file (dotenv, then dotenv-expand). dotenv unescapes nothing but \n in
 * double quotes, so multi-line values (PEM) go there, everything else in single quotes, literally.
 */
function envLine(key, value) {
  const text = String(value);
  const quote = text.includes('\n') ? '"' : "'";
  if (text.includes(quote) || text.includes('$')) throw new Error(`${key} cannot be written to an env file as it is`);
  return `${key}=${quote}${quote === '"' ? text.replace(/\n/g, '\\n') : text}${quote}`;
}

/**
 * Starts the stack. Options: port (Worker; default a free one), oauthPort (default a free one),
 * accessTokenTtl (s, default 90: the module refreshes a token with less than 60 s left, so a
 * refresh shows after half a minute), rotation, config (wrangler config; default
 * $MAILCONNECT_WRANGLER_CONFIG, else wrangler.toml), varsFile (the env file to write),
 * log (print wrangler's and the OAuth server's output), readyTimeoutMs (default 90 000), users
 * (the users mode above),
 * https (serve the webmail, the edge and the OAuth server over https with tls.mjs's certificate:
 * WebKit keeps no `Secure` cookie from http://localhost, and the page may then call nothing on
 * http; the edge's cookie stays the production one either way).
 * Resolves to { url, edge, oauth (startOAuthServer's API), connectors (as given to the Worker),
 * appApiKey (smtp-relay's API key), output() (wrangler's last output), failed (a promise of the
 * Error that says which part died under the running stack), tls (https only: tls.mjs's paths and
 * PEMs), stop() }; with `users: true` also backend (demo-backend.mjs's API: url, mint) and
 * backendApiKey.
 */
export async function startStack(options = {}) {
  const port = options.port ?? await freePort();
  const tls = options.https ? await localCertificate(join(REPO, '.wrangler')) : undefined;
  const origin = `${tls ? 'https' : 'http'}://localhost:${port}`;
  const dir = join(REPO, '.wrangler', 'stacks', String(port));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const configSource = resolve(REPO, options.config ?? process.env.MAILCONNECT_WRANGLER_CONFIG ?? 'wrangler.toml');
  if (!existsSync(configSource)) throw new Error(`${configSource} is missing: the edge Worker's configuration is needed`);
  const config = join(dir, 'wrangler.toml');
  const tlsFiles = tls && { key: tls.key, cert: tls.cert };
  // Users mode: the demo's back end, and the webmail's files with its address beside them.
  const backend = options.users ? await startDemoBackend({ origin, tls: tlsFiles }) : undefined;
  await stackConfig(configSource, config, backend && await demoAssets(join(dir, 'www'), backend.url));

  // One redirect URI per provider (README, "One redirect URI per connector"): Zoom's callback page
  // is the same page under its own path (www/_redirects).
  const callback = `${origin}/callback`;
  const zoomCallback = `${origin}/callback-zoom`;
  const cert = generateCertificateKey();
  const oauth = await startOAuthServer({
    port: options.oauthPort ?? 0,
    redirectUris: [callback, zoomCallback],
    accessTokenTtl: options.accessTokenTtl ?? 90,
    rotation: options.rotation,
    certificate: cert,
    tls: tlsFiles,
    log: options.log,
  });
  const connectors = {
    ...devConnectors(oauth, cert, callback),
    zoom: {
      provider: 'zoom',
      authority: oauth.url,
      client_id: oauth.clients.secret.id,
      // The OAuth server knows Graph's scopes, not Zoom's, and gives a refresh token only for offline_access.
      scope: 'User.Read offline_access',
      redirect_uris: [zoomCallback],
    },
    'smtp-relay': {
      provider: 'microsoft',
      tenant: oauth.tenantId,
      authority: oauth.url,
      client_id: oauth.clients.daemon.id,
      scope: 'https://outlook.office365.com/.default',
      grant: 'client_credentials',
    },
  };
  const appApiKey = randomBytes(32).toString('base64url');
  const backendApiKey = backend && randomBytes(32).toString('base64url');
  if (backend) {
    for (const id of ['teams', 'outlook-mail']) connectors[id].backend_access = true;
  }
  const varsFile = options.varsFile ?? join(dir, 'dev.vars');
  await writeFile(varsFile, [
    '# Written by tests/support/stack.mjs for the local stack; rewritten at every start.',
    envLine('SESSION_KEY', randomBytes(32).toString('base64')),
    envLine('TEAMS_CLIENT_SECRET', oauth.clients.secret.secret),
    envLine('ZOOM_CLIENT_SECRET', oauth.clients.secret.secret),
    envLine('OUTLOOK_MAIL_PRIVATE_KEY', cert.privateKeyPem),
    envLine('SMTP_RELAY_CLIENT_SECRET', oauth.clients.daemon.secret),
    envLine('SMTP_RELAY_API_KEYS', appApiKey),
    envLine('ALLOWED_ORIGINS', origin),
    envLine('CONNECTORS', JSON.stringify(connectors)),
    ...(backend ? [
      envLine('USER_TICKET_KEYS', backend.ticketKeys),
      envLine('USER_ID_KEY', randomBytes(32).toString('base64')),
      envLine('BACKEND_API_KEYS', backendApiKey),
    ] : []),
    '',
  ].join('\n'), { mode: 0o600 });

  const output = [];
  const child = spawn(process.execPath, [
    WRANGLER, 'dev',
    '--config', config,
    '--env-file', varsFile,
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--persist-to', join(dir, 'state'),
    '--show-interactive-dev-session=false',
    '--log-level', options.log ? 'info' : 'warn',
    ...(tls ? ['--local-protocol', 'https', '--https-key-path', tls.keyPath, '--https-cert-path', tls.certPath] : []),
  ], {
    cwd: REPO,
    // A process group of its own, so a last-resort kill reaches workerd too.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      CI: '1',
      XDG_CONFIG_HOME: join(REPO, '.wrangler', 'config'),
      // workerd trusts these (Miniflare reads them), so the edge reaches the OAuth server over https.
      ...(tls ? { NODE_EXTRA_CA_CERTS: tls.caPath } : {}),
    },
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      if (options.log) process.stdout.write(chunk);
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    });
  }
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  // If the test process dies without stop(), take the Worker down with it.
  const killOnExit = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const done = await Promise.race([exited, sleep(10_000).then(() => null)]);
      if (!done) {
        killOnExit();
        await exited;
      }
    }
    await oauth.stop();
    await backend?.stop();
    await rm(dir, { recursive: true, force: true });
  }

  try {
    await waitForHealth(`${tls ? 'https' : 'http'}://127.0.0.1:${port}/oauth/health`, tls?.ca, exited, options.readyTimeoutMs ?? 90_000);
  } catch (err) {
    await stop();
    throw new Error(`${err.message}\n--- wrangler output ---\n${output.join('').slice(-4000)}`);
  }
  const failed = watchStack({ exited, isStopped: () => stopped, port, oauthPort: oauth.port, output });
  return { url: origin, edge: `${origin}/oauth`, oauth, connectors, appApiKey, backend, backendApiKey, output: () => output.join(''), failed, tls, stop };
}

/**
 * The demo webmail's files for a users-mode stack, in `target`: a symbolic link to each entry of
 * www/ (so edits show as they do on the plain stack) and `demo-backend.json` naming the back end,
 * which www/app.js reads to offer its sign-in. The plain stack serves www/ itself, without it.
 */
async function demoAssets(target, backendUrl) {
  const www = join(REPO, 'www');
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(www)) await symlink(join(www, entry), join(target, entry));
  await writeFile(join(target, 'demo-backend.json'), JSON.stringify({ url: backendUrl }));
  return target;
}

// How often the running stack is checked, and how many refused connections in a row count as a
// death: wrangler restarts workerd when the Worker's build changes, refusing connections briefly.
const WATCH_INTERVAL_MS = 1000;
const WATCH_REFUSALS = 3;

/**
 * Resolves with an Error naming what died, when wrangler exits or the edge's or the OAuth
 * server's port stops accepting connections while the stack has not been stopped; never rejects.
 * wrangler can outlive its workerd (the port then refuses while wrangler keeps running), and the
 * OAuth server lives in this process, so ports are watched as well as the child process.
 */
function watchStack({ exited, isStopped, port, oauthPort, output }) {
  return new Promise((report) => {
    const fail = (what) => {
      clearInterval(timer);
      report(new Error(`${what}\n--- wrangler output ---\n${output.join('').slice(-4000)}`));
    };
    exited.then(({ code, signal }) => {
      if (!isStopped()) fail(`wrangler dev exited (${signal ?? `code ${code}`}) under the running stack`);
    });
    const refusals = { edge: 0, oauth: 0 };
    const names = { edge: `the edge (workerd) on port ${port}`, oauth: `the OAuth server on port ${oauthPort}` };
    const timer = setInterval(async () => {
      const [edge, oauth] = await Promise.all([accepts(port), accepts(oauthPort)]);
      if (isStopped()) return clearInterval(timer);
      for (const [key, up] of [['edge', edge], ['oauth', oauth]]) {
        refusals[key] = up ? 0 : refusals[key] + 1;
        if (refusals[key] === WATCH_REFUSALS) return fail(`${names[key]} stopped accepting connections`);
      }
    }, WATCH_INTERVAL_MS);
    timer.unref();
  });
}

/** Whether 127.0.0.1:port accepts a TCP connection within a second. */
function accepts(port) {
  return new Promise((answer) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 1000 });
    const done = (up) => {
      socket.destroy();
      answer(up);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

async function waitForHealth(url, ca, exited, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let gone = null;
  exited.then((e) => { gone = e; });
  while (Date.now() < deadline) {
    if (gone) throw new Error(`wrangler dev exited (${gone.signal ?? `code ${gone.code}`}) before ${url} answered`);
    try {
      if ((await getJson(url, ca)).status === 'ok') return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

/**
 * GET `url` and parse its JSON body; `ca` (PEM) is the one CA trusted for https. Rejects on a
 * non-2xx status or a connection error.
 */
export async function getJson(url, ca) {
  if (!url.startsWith('https:')) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    return res.json();
  }
  // fetch cannot be told one CA to trust; node:https can.
  return new Promise((ok, fail) => {
    httpsGet(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => {
        if (res.statusCode < 200 || res.statusCode > 299) return fail(new Error(`${url}: ${res.statusCode}`));
        try {
          ok(JSON.parse(body));
        } catch (err) {
          fail(err);
        }
      });
    }).on('error', fail);
  });
}

// `node tests/support/stack.mjs`: the dev stack, until Ctrl-C.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      'oauth-port': { type: 'string', default: '9010' },
      'access-token-ttl': { type: 'string', default: '90' },
      quiet: { type: 'boolean', default: false },
      https: { type: 'boolean', default: false },
      users: { type: 'boolean', default: false },
    },
  });
  const port = Number(values.port);
  const stack = await startStack({
    port,
    oauthPort: Number(values['oauth-port']),
    accessTokenTtl: Number(values['access-token-ttl']),
    varsFile: port === 8787 ? join(REPO, '.dev.vars') : undefined,
    log: !values.quiet,
    https: values.https,
    users: values.users,
  });
  console.log(`\nmailconnect demo webmail: ${stack.url}/`);
  console.log(`  edge      ${stack.edge}/health`);
  console.log(`  OAuth     ${stack.oauth.url} (sign in as ${stack.oauth.users[0].username}, any password)`);
  console.log(`  Access tokens live ${values['access-token-ttl']} s; the page gets a fresh one when less than 60 s are left.`);
  console.log(`  Mail servers: MAILCONNECT_API_KEY=${stack.appApiKey} mailconnect app-token --edge ${stack.edge} --connector smtp-relay --user relay@contoso.dev`);
  if (stack.backend) {
    console.log(`  Users: sign in to the webmail as Ada or Grace (back end ${stack.backend.url}); each has her own connections on every browser.`);
    console.log(`  The back end's API key for the users routes: ${stack.backendApiKey}`);
  }
  if (stack.tls) {
    console.log(`  https: the certificate is signed by a CA made for this machine, ${stack.tls.caPath}`);
    console.log('    Trust that CA once, or proceed past the browser\'s warning on both origins above (webmail and OAuth).');
    console.log(`    Safari (macOS): sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${stack.tls.caPath}`);
    console.log('    Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import.');
    console.log(`    Chromium (Linux): certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n mailconnect-dev -i ${stack.tls.caPath}`);
    console.log('    The mailconnect command trusts public CAs only: try app tokens on the http stack.');
  }
  console.log('Ctrl-C stops everything.');
  let stopping = false;
  const shutdown = async (status) => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    process.exit(status);
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  stack.failed.then((err) => {
    if (stopping) return;
    console.error(`\nmailconnect stack: ${err.message}\nStopping everything else; the stack is not usable.`);
    shutdown(1);
  });
}
