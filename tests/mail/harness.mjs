// The mail tests' stack: the edge Worker with app-token connectors and, with user binding on,
// the browser connectors of the dev stack (tests/edge/harness.mjs), the Entra-like OAuth server
// under it, and Dovecot checking the edge's tokens (tests/support/mail-server.mjs), plus the
// `mailconnect` command, the webmail back end's tickets (crates/cli/examples/mint_ticket.rs), and
// the protocol steps a relay takes with its output.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { buildCli } from '../support/cli.mjs';
import { connectLines, startMailServer } from '../support/mail-server.mjs';
import { REPO, defaultConnectors, startEdge } from '../edge/harness.mjs';

const run = promisify(execFile);

export const RELAY = 'relay@contoso.dev';
export const API_KEY = randomBytes(32).toString('base64');
/** The webmail back end's key for the `users` routes (BACKEND_API_KEYS). */
export const BACKEND_API_KEY = randomBytes(32).toString('base64');
const APP_SCOPE = 'https://outlook.office365.com/.default';
const MAILBOX_SCOPE = 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send';

/**
 * App-token connectors, all on the daemon client unless said: `relay` (Exchange, the default
 * 300 s margin), `relay-short` (margin 0, so the edge hands out a token about to expire),
 * `graph-relay` (the Graph resource by mistake), `mailbox` (Ada's delegated token, password grant).
 * The browser connectors: `outlook-mail` (IMAP, POP and SMTP for the signed-in user) serves the
 * back end (`backend_access`), `teams` does not.
 */
function connectors(oauth, certificate) {
  const app = (extra = {}) => ({ provider: 'microsoft', tenant: oauth.tenantId, authority: oauth.url, client_id: oauth.clients.daemon.id, scope: APP_SCOPE, grant: 'client_credentials', ...extra });
  const browser = defaultConnectors(oauth, certificate);
  return {
    teams: browser.teams,
    'outlook-mail': { ...browser['outlook-mail'], backend_access: true },
    relay: app(),
    'relay-short': app({ token_expiry_margin: 0 }),
    'graph-relay': app({ scope: 'https://graph.microsoft.com/.default' }),
    mailbox: app({ client_id: oauth.clients.mailbox.id, grant: 'password', username: 'ada@contoso.dev', scope: MAILBOX_SCOPE }),
  };
}

function vars(oauth, userTicketKeys) {
  const daemon = (prefix) => ({ [`${prefix}_CLIENT_SECRET`]: oauth.clients.daemon.secret, [`${prefix}_API_KEYS`]: API_KEY });
  return {
    USER_TICKET_KEYS: userTicketKeys,
    USER_ID_KEY: randomBytes(32).toString('base64'),
    BACKEND_API_KEYS: BACKEND_API_KEY,
    ...daemon('RELAY'),
    ...daemon('RELAY_SHORT'),
    ...daemon('GRAPH_RELAY'),
    MAILBOX_CLIENT_SECRET: oauth.clients.mailbox.secret,
    MAILBOX_PASSWORD: 'dev-mailbox-password',
    MAILBOX_API_KEYS: API_KEY,
  };
}

/**
 * The Rust example a webmail back end would start from: builds it, makes a key pair, and
 * resolves to { userTicketKeys, mint(account) } where `mint` resolves to a fresh ticket.
 */
async function ticketMinter() {
  await run('cargo', ['build', '-q', '-p', 'mailconnect-cli', '--example', 'mint_ticket'], { cwd: REPO });
  const example = join(REPO, 'target/debug/examples/mint_ticket');
  const { stdout } = await run(example, ['new-key', 'mail-tests']);
  const settings = Object.fromEntries(stdout.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
  const mint = async (account) => (await run(example, ['mail-tests', account], { env: { ...process.env, TICKET_SIGNING_KEY: settings.TICKET_SIGNING_KEY } })).stdout.trim();
  return { userTicketKeys: settings.USER_TICKET_KEYS, mint };
}

/**
 * Starts the edge (hour-long tokens, user binding on), Dovecot (the daemon's service principal
 * may open RELAY's mailbox), and builds the CLI.
 */
export async function startMailStack() {
  const cli = await buildCli();
  const tickets = await ticketMinter();
  const edge = await startEdge({ oauth: { accessTokenTtl: 3600 }, connectors, vars: (oauth) => vars(oauth, tickets.userTicketKeys) });
  let mail;
  try {
    mail = await startMailServer({ oauth: edge.oauth, mailboxPermissions: { [edge.oauth.clients.daemon.id]: RELAY } });
  } catch (err) {
    await edge.stop();
    throw err;
  }

  /** Runs `mailconnect ARGS` with the API key in its environment; `input` goes to its stdin. */
  function mailconnect(args, { input, apiKey = API_KEY } = {}) {
    return new Promise((resolve, reject) => {
      const child = spawn(cli, args, { env: { ...process.env, MAILCONNECT_API_KEY: apiKey } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => { stdout += c; });
      child.stderr.on('data', (c) => { stderr += c; });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
      // A usage error exits before reading its input: the pipe's EPIPE is not the test's failure.
      child.stdin.on('error', () => {});
      child.stdin.end(input ?? '');
    });
  }

  /** `mailconnect app-token` against this edge; resolves to its stdout without the newline. */
  async function appToken(connector, ...args) {
    const out = await mailconnect(['app-token', '--edge', `${edge.url}/oauth`, '--connector', connector, ...args]);
    if (out.code !== 0) throw new Error(`app-token exited ${out.code}: ${out.stderr}`);
    return out.stdout.replace(/\n$/, '');
  }

  /** `mailconnect doctor` with plain text to this Dovecot; `servers` picks the protocols. */
  function doctor(args, { servers = ['imap', 'pop3', 'smtp'], input, apiKey } = {}) {
    const addresses = servers.flatMap((s) => [`--${s}`, `${mail[s].host}:${mail[s].port}`]);
    return mailconnect(['doctor', ...args, ...addresses, '--security', 'plain'], { input, apiKey });
  }

  /**
   * What the webmail's user does in the browser, without one: the webmail's back end mints a
   * ticket for `account`, the page binds its session with it, and connects `connector` signed in
   * at the OAuth server as `user`. Resolves to the session cookie's value.
   */
  async function connectUser(account, connector, user) {
    const bound = await edge.bind(await tickets.mint(account));
    if (bound.status !== 200) throw new Error(`bind: ${bound.status} ${JSON.stringify(bound.body)}`);
    const connected = await edge.connect(connector, { session: bound.session, user });
    if (connected.status !== 200) throw new Error(`connect: ${connected.status} ${JSON.stringify(connected.body)}`);
    return connected.session;
  }

  /** `mailconnect user-* --edge … --account … --connector … ARGS` with the back end's key (or `apiKey`). */
  function userCommand(command, account, connector, args = [], { apiKey = BACKEND_API_KEY } = {}) {
    return mailconnect([command, '--edge', `${edge.url}/oauth`, '--account', account, '--connector', connector, ...args], { apiKey });
  }

  async function stop() {
    await mail.stop();
    await edge.stop();
  }

  return { edge, mail, cli, mailconnect, appToken, doctor, connectUser, userCommand, stop };
}

/** Waits until a second past the token's own `exp`, so that every server sees it expired. */
export async function untilExpired(token) {
  const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  await sleep(Math.max(0, (exp + 1) * 1000 - Date.now()));
}

/** Reads lines up to and including the first that `last` accepts. */
async function until(conn, last) {
  const lines = [];
  for (;;) {
    const line = await conn.line();
    if (line === null) throw new Error(`connection closed after ${JSON.stringify(lines)}`);
    lines.push(line);
    if (last(line)) return lines;
  }
}

/**
 * IMAP `AUTHENTICATE XOAUTH2 <string>` (SASL-IR). An error challenge (`+ …`) is answered with an
 * empty line, as RFC 7628 asks. Resolves to { reply, challenge, conn } with the tagged reply.
 */
export async function imapLogin(server, xoauth2) {
  const conn = await connectLines(server);
  await conn.line();
  conn.send(`a AUTHENTICATE XOAUTH2 ${xoauth2}`);
  let reply = await conn.line();
  let challenge;
  if (reply.startsWith('+')) {
    challenge = Buffer.from(reply.slice(1).trim(), 'base64').toString('utf8');
    conn.send('');
    reply = await conn.line();
  }
  return { reply, challenge, conn };
}

/** IMAP: the UIDs in INBOX whose Subject contains `subject` (an open, logged-in connection). */
export async function imapSearch(conn, subject) {
  conn.send('s SELECT INBOX');
  await until(conn, (l) => l.startsWith('s '));
  conn.send(`f UID SEARCH SUBJECT "${subject}"`);
  const lines = await until(conn, (l) => l.startsWith('f '));
  return (lines.find((l) => l.startsWith('* SEARCH')) ?? '* SEARCH').split(' ').slice(2).map(Number);
}

/** POP3, the two-line form `mailconnect app-token --pop3` prints: the command, then after `+` the string. */
export async function pop3Login(server, twoLines) {
  const [command, response] = twoLines.split('\r\n');
  const conn = await connectLines(server);
  await conn.line();
  conn.send(command);
  const goAhead = await conn.line();
  conn.send(response);
  let reply = await conn.line();
  if (reply.startsWith('+ ')) {
    conn.send('');
    reply = await conn.line();
  }
  return { goAhead, reply, conn };
}

/** SMTP submission: EHLO, then `AUTH XOAUTH2 <string>`. Resolves to { ehlo, reply, conn }. */
export async function smtpLogin(server, xoauth2) {
  const conn = await connectLines(server);
  await until(conn, (l) => /^\d{3} /.test(l));
  conn.send('EHLO relay.contoso.dev');
  const ehlo = await until(conn, (l) => /^\d{3} /.test(l));
  // RFC 4954 §4: an initial response that would make the command longer than SMTP's 512-octet
  // line limit goes after the server's 334 instead (a token makes it about 1,300).
  const initial = `AUTH XOAUTH2 ${xoauth2}`;
  let reply;
  if (initial.length + 2 <= 512) {
    conn.send(initial);
  } else {
    conn.send('AUTH XOAUTH2');
    reply = await conn.line();
    if (!reply.startsWith('334')) return { ehlo, reply, conn };
    conn.send(xoauth2);
  }
  reply = await conn.line();
  if (reply.startsWith('334 ')) {
    conn.send('');
    reply = await conn.line();
  }
  return { ehlo, reply, conn };
}

/** SMTP: sends one message on a logged-in connection; resolves to the reply to its end. */
export async function smtpSend(conn, { from, to, subject, body }) {
  const reply = async (text) => { conn.send(text); return (await until(conn, (l) => /^\d{3} /.test(l))).at(-1); };
  for (const [command, code] of [[`MAIL FROM:<${from}>`, '250'], [`RCPT TO:<${to}>`, '250'], ['DATA', '354']]) {
    const answer = await reply(command);
    if (!answer.startsWith(code)) throw new Error(`${command}: ${answer}`);
  }
  const lines = [`From: <${from}>`, `To: <${to}>`, `Subject: ${subject}`, `Message-ID: <${randomBytes(8).toString('hex')}@contoso.dev>`, '', ...body.split('\n')];
  // Dot-stuffing (RFC 5321 §4.5.2).
  return reply(`${lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n')}\r\n.`);
}
