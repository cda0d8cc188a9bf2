// A real mail server for the tests: Dovecot from Debian (dovecot-imapd, -pop3d, -submissiond,
// installed by scripts/setup.sh), run in the foreground (`dovecot -F -c CONFIG`) with a config
// of its own in a temporary directory, on free 127.0.0.1 ports, as an unprivileged user (the
// package's `dovecot` user when the tests run as root, the current user otherwise).
//
// Dovecot authenticates XOAUTH2 and OAUTHBEARER with its `oauth2` passdb, by token
// introspection (RFC 7662) against `exchange`, a small HTTP endpoint here that checks a token as
// Exchange Online does: signed by the OAuth server (tests/support/oauth-server.mjs), not expired,
// for Exchange (aud https://outlook.office365.com or https://outlook.office.com), carrying the
// protocol's permission (IMAP.AccessAsApp or IMAP.AccessAsUser.All, and so on; the protocol
// comes from Dovecot's X-Dovecot-Auth-Service header). It answers the mailbox the token may open:
// a delegated token's user, or for an app-only token the one mailbox its service principal was
// given (option `mailboxPermissions`, standing in for Add-MailboxPermission). Dovecot itself then
// refuses a login to any other mailbox ("Username did not match").
//
// SMTP submission relays to a small SMTP sink here, which delivers each message into the
// recipients' Maildirs, where IMAP and POP3 read it.
//
//   const mail = await startMailServer({ oauth, mailboxPermissions: { [clientId]: 'relay@contoso.dev' } });
//   mail.imap / mail.pop3 / mail.smtp    { host, port }: plain text with STARTTLS offered
//   mail.imaps / mail.pop3s              { host, port }: TLS from the first byte
//   mail.caFile                          the PEM of the servers' self-signed certificate (127.0.0.1, localhost)
//   mail.refusals()                      the tokens the Exchange check refused: [{ service, reason }]
//   await mail.stop()                    stops Dovecot by PID, closes the endpoints, removes the directory
//
// `connectLines(port)` is the line-by-line client the tests speak IMAP, POP3 and SMTP with.

import { spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const EXCHANGE_AUDIENCES = ['https://outlook.office365.com', 'https://outlook.office.com'];
// Dovecot's service name to the permissions (app-only, delegated) Exchange asks of it.
const PERMISSIONS = {
  imap: ['IMAP.AccessAsApp', 'IMAP.AccessAsUser.All'],
  pop3: ['POP.AccessAsApp', 'POP.AccessAsUser.All'],
  submission: ['SMTP.SendAsApp', 'SMTP.Send'],
};
const HOSTNAME = 'mail.contoso.dev';

/** The account Dovecot runs as: uid, gid and name. */
async function runAs() {
  if (process.getuid() !== 0) {
    const name = process.env.USER || (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.split(':')[2] === String(process.getuid()))?.split(':')[0];
    return { uid: process.getuid(), gid: process.getgid(), name };
  }
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('dovecot:'));
  if (!line) throw new Error('no dovecot user: install Dovecot with scripts/setup.sh');
  const [name, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), name };
}

/** A free 127.0.0.1 port (Dovecot takes ports from its config, so the port is found first). */
async function freePort() {
  const server = createNetServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listen(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server.address().port;
}

/** The Exchange-like token check Dovecot's oauth2 passdb introspects tokens with. */
function exchangeCheck(oauth, mailboxPermissions, refusals) {
  function check(token, service) {
    let claims;
    try {
      claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    } catch {
      return { reason: 'not a JWT' };
    }
    const audience = EXCHANGE_AUDIENCES.includes(claims.aud) ? claims.aud : EXCHANGE_AUDIENCES[0];
    const verified = oauth.verifyAccessToken(token, audience);
    if (verified.error) return { reason: verified.error };
    const appOnly = claims.scp === undefined;
    const granted = appOnly ? claims.roles ?? [] : claims.scp.split(' ');
    const needed = PERMISSIONS[service]?.[appOnly ? 0 : 1];
    if (!needed || !granted.includes(needed)) return { reason: `the token lacks ${needed ?? `a permission for ${service}`}` };
    // A mailbox nobody granted: the service principal's own id, which names no mailbox.
    const mailbox = appOnly ? mailboxPermissions[claims.azp] ?? claims.oid : claims.preferred_username;
    return { introspection: { active: true, username: mailbox, scope: granted.join(' '), aud: claims.aud, exp: claims.exp, client_id: claims.azp } };
  }
  return createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const service = req.headers['x-dovecot-auth-service'];
      const { introspection, reason } = check(new URLSearchParams(body).get('token') ?? '', service);
      if (reason) refusals.push({ service, reason });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(introspection ?? { active: false }));
    });
  });
}

/** A minimal SMTP server that delivers every message into its recipients' Maildirs. */
function smtpSink(deliver) {
  return createNetServer((socket) => {
    let buffer = '';
    let data = null;
    let recipients = [];
    const reply = (line) => socket.write(`${line}\r\n`);
    reply(`220 sink.${HOSTNAME} ESMTP`);
    socket.on('error', () => {});
    socket.on('data', async (chunk) => {
      buffer += chunk.toString('latin1');
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data !== null) {
          if (line !== '.') {
            data.push(line.startsWith('.') ? line.slice(1) : line);
            continue;
          }
          const message = `${data.join('\r\n')}\r\n`;
          const to = recipients;
          data = null;
          recipients = [];
          socket.pause();
          await Promise.all(to.map((r) => deliver(r, message)));
          socket.resume();
          reply('250 2.0.0 delivered');
          continue;
        }
        const verb = line.split(' ')[0].toUpperCase();
        if (verb === 'EHLO') reply(`250-sink.${HOSTNAME}\r\n250 8BITMIME`);
        else if (verb === 'HELO' || verb === 'NOOP') reply('250 OK');
        else if (verb === 'MAIL') { recipients = []; reply('250 2.1.0 OK'); }
        else if (verb === 'RCPT') { recipients.push(/<([^>]*)>/.exec(line)?.[1] ?? ''); reply('250 2.1.5 OK'); }
        else if (verb === 'DATA') { data = []; reply('354 end with <CRLF>.<CRLF>'); }
        else if (verb === 'RSET') { recipients = []; reply('250 OK'); }
        else if (verb === 'QUIT') { reply('221 bye'); socket.end(); }
        else reply('502 5.5.2 not implemented');
      }
    });
  });
}

/**
 * Starts Dovecot and its two helpers. Options: oauth (a started OAuth server), mailboxPermissions
 * ({ clientId: mailbox } for app-only tokens).
 */
export async function startMailServer({ oauth, mailboxPermissions = {} }) {
  const account = await runAs();
  const dir = await mkdtemp(join(tmpdir(), 'mailconnect-dovecot-'));
  const mailRoot = join(dir, 'mail');
  const owned = async (path) => { await mkdir(path, { recursive: true }); await chown(path, account.uid, account.gid); };
  for (const sub of ['run', 'state', 'mail']) await owned(join(dir, sub));
  await chown(dir, account.uid, account.gid);

  const refusals = [];
  const exchange = exchangeCheck(oauth, mailboxPermissions, refusals);
  // Maildir delivery: write in tmp/, then rename into new/ (the Maildir protocol).
  async function deliver(recipient, message) {
    const maildir = join(mailRoot, recipient.toLowerCase());
    for (const sub of ['', 'tmp', 'new', 'cur']) await owned(join(maildir, sub));
    const name = `${Date.now()}.${randomBytes(6).toString('hex')}.${HOSTNAME}`;
    await writeFile(join(maildir, 'tmp', name), message, 'latin1');
    await chown(join(maildir, 'tmp', name), account.uid, account.gid);
    await rename(join(maildir, 'tmp', name), join(maildir, 'new', name));
  }
  const sink = smtpSink(deliver);
  const [exchangePort, sinkPort] = [await listen(exchange), await listen(sink)];
  const ports = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort(), submission: await freePort() };
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await selfSignedCertificate(cert, key);
  for (const file of [cert, key]) await chown(file, account.uid, account.gid);

  await writeFile(join(dir, 'oauth2.conf.ext'), [
    `introspection_url = http://127.0.0.1:${exchangePort}/introspect`,
    'introspection_mode = post',
    'username_attribute = username',
    'active_attribute = active',
    'active_value = true',
    // Tells the Exchange check which protocol the login is for (X-Dovecot-Auth-Service).
    'send_auth_headers = yes',
    '',
  ].join('\n'));
  await writeFile(join(dir, 'dovecot.conf'), `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap pop3 submission
listen = 127.0.0.1
ssl = yes
ssl_cert = <${cert}
ssl_key = <${key}
# Loopback only: Dovecot counts 127.0.0.1 as secure, this makes it explicit.
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
default_internal_user = ${account.name}
default_login_user = ${account.name}
default_internal_group = ${account.name}
first_valid_uid = ${account.uid}
mail_location = maildir:${mailRoot}/%Lu
hostname = ${HOSTNAME}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${dir}/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=${account.uid} gid=${account.gid} home=${mailRoot}/%Lu
}
# Refusals are what the tests are about: no delay after one, no growing penalty per IP
# (the documented way to turn the penalty off is to close its socket).
auth_failure_delay = 0
# An unprivileged Dovecot cannot chroot its login processes.
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    port = ${ports.imap}
  }
  inet_listener imaps {
    port = ${ports.imaps}
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    port = ${ports.pop3s}
    ssl = yes
  }
}
service submission-login {
  chroot =
  inet_listener submission {
    port = ${ports.submission}
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = ${sinkPort}
submission_relay_trusted = yes
`);

  const spawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], ...(process.getuid() === 0 ? { uid: account.uid, gid: account.gid } : {}) };
  const dovecot = spawn('dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], spawnOptions);
  let output = '';
  dovecot.stdout.on('data', (c) => { output += c; });
  dovecot.stderr.on('data', (c) => { output += c; });
  const exited = new Promise((resolve) => dovecot.once('exit', resolve));
  let spawnError;
  dovecot.once('error', (err) => { spawnError = err; });

  async function stop() {
    if (dovecot.pid && dovecot.exitCode === null && dovecot.signalCode === null) {
      dovecot.kill('SIGTERM');
      await exited;
    }
    for (const server of [exchange, sink]) {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
    await rm(dir, { recursive: true, force: true });
  }

  // Ready when every protocol greets (the master listens before its login processes run; TLS
  // listeners answer a client hello, so a plain connection to them only sees them accept).
  const deadline = Date.now() + 10_000;
  try {
    for (const port of [ports.imap, ports.pop3, ports.submission]) {
      while (!(await greets(port))) {
        const log = () => readFile(join(dir, 'dovecot.log'), 'utf8').catch(() => '');
        if (spawnError) throw new Error(`cannot start dovecot (install it with scripts/setup.sh): ${spawnError.message}`);
        if (dovecot.exitCode !== null) throw new Error(`dovecot exited with ${dovecot.exitCode}: ${output}${await log()}`);
        if (Date.now() > deadline) throw new Error(`dovecot did not listen on port ${port}: ${output}${await log()}`);
        await sleep(50);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const address = (port) => ({ host: '127.0.0.1', port });
  return {
    imap: address(ports.imap),
    imaps: address(ports.imaps),
    pop3: address(ports.pop3),
    pop3s: address(ports.pop3s),
    smtp: address(ports.submission),
    caFile: cert,
    pid: dovecot.pid,
    refusals: () => refusals.slice(),
    log: () => readFile(join(dir, 'dovecot.log'), 'utf8'),
    stop,
  };
}

/** A self-signed server certificate for 127.0.0.1 and localhost (not a CA: it is its own anchor). */
function selfSignedCertificate(cert, key) {
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth'];
  return new Promise((resolve, reject) => {
    const openssl = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    openssl.stderr.on('data', (c) => { stderr += c; });
    openssl.once('error', reject);
    openssl.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl: ${stderr}`))));
  });
}

function greets(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
    socket.once('data', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** A line-by-line TCP client: `await c.line()` reads one line (without CRLF), `c.send(text)` writes text + CRLF. */
export async function connectLines({ host, port }) {
  const socket = connect(port, host);
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let buffer = '';
  const waiting = [];
  const lines = [];
  let closed = false;
  const pump = () => {
    while (waiting.length && (lines.length || closed)) waiting.shift()(lines.length ? lines.shift() : null);
  };
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    let end;
    while ((end = buffer.indexOf('\r\n')) >= 0) {
      lines.push(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
    pump();
  });
  socket.on('close', () => { closed = true; pump(); });
  socket.on('error', () => {});
  return {
    line: () => new Promise((resolve) => { waiting.push(resolve); pump(); }),
    send: (text) => socket.write(`${text}\r\n`),
    close: () => socket.destroy(),
  };
}
