// `mailconnect doctor` against the local stack: a healthy setup, each refusal turned into its
// fix, servers that cannot be reached, and the token never printed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { RELAY, untilExpired, startMailStack } from './harness.mjs';

describe('mailconnect doctor', () => {
  let stack;
  let edgeArgs;
  before(async () => {
    stack = await startMailStack();
    edgeArgs = (connector) => ['--edge', `${stack.edge.url}/oauth`, '--connector', connector];
  });
  after(() => stack?.stop());

  test('a healthy setup: every login accepted, exit 0, the margin warning, and no token printed', async () => {
    const out = await stack.doctor([...edgeArgs('relay'), '--user', RELAY]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /^token +ok +app-only token for https:\/\/outlook\.office365\.com, tenant c0ffee00-1a2b-4c3d-8e9f-0123456789ab, roles SMTP\.SendAsApp IMAP\.AccessAsApp POP\.AccessAsApp, expires in \d+ s$/m);
    for (const protocol of ['imap', 'pop3', 'smtp']) assert.match(out.stdout, new RegExp(`^${protocol} +ok +127\\.0\\.0\\.1:\\d+ \\(plain\\) accepted XOAUTH2 for ${RELAY}$`, 'm'));
    assert.match(out.stdout, /^margin +warning +token_expiry_margin \(300 s\) is shorter than the imap server's idle timeout \(1800 s\)/m);
    assert.match(out.stdout, /^result: healthy \(1 warning\)$/m);
    const token = await stack.appToken('relay', '--token');
    assert.ok(!out.stdout.includes(token) && !out.stdout.includes(token.split('.')[2]), 'the token was printed');
    const wide = await stack.doctor([...edgeArgs('relay'), '--user', RELAY, '--margin', '1800']);
    assert.match(wide.stdout, /^result: healthy \(0 warnings\)$/m);
  });

  test('TLS and STARTTLS to a server whose certificate --ca-file trusts; without it, the certificate is the problem', async () => {
    const { mail } = stack;
    const address = (s) => `${s.host}:${s.port}`;
    const doctor = (...args) => stack.mailconnect(['doctor', ...edgeArgs('relay'), '--user', RELAY, '--margin', '1800', ...args]);
    const tls = await doctor('--imap', address(mail.imaps), '--pop3', address(mail.pop3s), '--security', 'tls', '--ca-file', mail.caFile);
    assert.equal(tls.code, 0, tls.stdout);
    assert.match(tls.stdout, /^imap +ok +127\.0\.0\.1:\d+ \(TLS\) accepted XOAUTH2/m);
    assert.match(tls.stdout, /^pop3 +ok +127\.0\.0\.1:\d+ \(TLS\) accepted XOAUTH2/m);
    const starttls = await doctor('--imap', address(mail.imap), '--pop3', address(mail.pop3), '--smtp', address(mail.smtp), '--security', 'starttls', '--ca-file', mail.caFile);
    assert.equal(starttls.code, 0, starttls.stdout);
    for (const protocol of ['imap', 'pop3', 'smtp']) assert.match(starttls.stdout, new RegExp(`^${protocol} +ok +127\\.0\\.0\\.1:\\d+ \\(STARTTLS\\) accepted XOAUTH2`, 'm'));
    const untrusted = await doctor('--imap', address(mail.imaps), '--security', 'tls');
    assert.equal(untrusted.code, 1, untrusted.stdout);
    assert.match(untrusted.stdout, /^imap +problem +127\.0\.0\.1:\d+ \(TLS\): TLS handshake with 127\.0\.0\.1 failed: invalid peer certificate/m);
    assert.match(untrusted.stdout, /fix: .*--ca-file for a private CA$/m);
  });

  test('a token for Microsoft Graph: the server refuses, doctor names the resource to use', async () => {
    const out = await stack.doctor([...edgeArgs('graph-relay'), '--user', RELAY], { servers: ['imap'] });
    assert.equal(out.code, 1, out.stdout);
    assert.match(out.stdout, /^token +problem +the token is for Microsoft Graph \(https:\/\/graph\.microsoft\.com\)/m);
    assert.match(out.stdout, /fix: set the connector's scope to https:\/\/outlook\.office365\.com\/\.default/);
    assert.match(out.stdout, /^imap +problem +127\.0\.0\.1:\d+ \(plain\) refused the token for relay@contoso\.dev: a NO \[AUTHENTICATIONFAILED\] Authentication failed\. \(\{"status":"401","schemes":"bearer","scope":"mail"\}\)$/m);
    assert.match(out.stdout, /^result: 2 problems to fix$/m);
  });

  test('a mailbox the app was not given: doctor gives the Exchange commands with the app\'s ids', async () => {
    const out = await stack.doctor([...edgeArgs('relay'), '--user', 'grace@contoso.dev'], { servers: ['imap', 'smtp'] });
    assert.equal(out.code, 1, out.stdout);
    const daemon = stack.edge.oauth.clients.daemon.id;
    assert.match(out.stdout, new RegExp(`fix: Exchange Online must know the app and let it into the mailbox: New-ServicePrincipal -AppId ${daemon} -ObjectId ${daemon} \\(once\\), then Add-MailboxPermission -Identity grace@contoso\\.dev -User ${daemon} -AccessRights FullAccess$`, 'm'));
    assert.match(out.stdout, /^smtp +problem +.*refused the token for grace@contoso\.dev: 535 5\.7\.8 Authentication failed/m);
    assert.match(out.stdout, /Set-CASMailbox -Identity grace@contoso\.dev -SmtpClientAuthenticationDisabled \$false$/m);
  });

  test('an expired token a relay holds (--token-stdin): the server refuses, doctor says it expired', async () => {
    stack.edge.oauth.setMode({ accessTokenTtl: 2 });
    const answer = JSON.parse(await stack.appToken('relay-short', '--json').finally(() => stack.edge.oauth.setMode({ accessTokenTtl: 3600 })));
    await untilExpired(answer.access_token);
    const out = await stack.doctor(['--token-stdin', '--user', RELAY], { servers: ['pop3'], input: `${answer.access_token}\n` });
    assert.equal(out.code, 1, out.stdout);
    assert.match(out.stdout, /^token +problem +the token expired \d+ s ago$/m);
    assert.match(out.stdout, /^pop3 +problem +.*refused the token for relay@contoso\.dev: -ERR \[AUTH\] Authentication failed\./m);
    assert.match(out.stdout, /fix: fix the token problems above$/m);
    assert.ok(!out.stdout.includes(answer.access_token));
  });

  test('a delegated token for another user: doctor says whose it is', async () => {
    const token = await stack.appToken('mailbox', '--token');
    const out = await stack.doctor(['--token-stdin', '--user', 'grace@contoso.dev'], { servers: ['imap'], input: token });
    assert.equal(out.code, 1, out.stdout);
    assert.match(out.stdout, /^token +problem +the token is ada@contoso\.dev's, not grace@contoso\.dev's/m);
  });

  test('a server that does not answer exits 75 (retry later); a wrong API key exits 1 with the edge\'s reason', async () => {
    const closed = createServer();
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const out = await stack.mailconnect(['doctor', ...edgeArgs('relay'), '--user', RELAY, '--imap', `127.0.0.1:${port}`, '--security', 'plain']);
    assert.equal(out.code, 75, out.stdout);
    assert.match(out.stdout, /^imap +retry +127\.0\.0\.1:\d+ \(plain\): cannot connect/m);
    const wrongKey = await stack.mailconnect(['doctor', ...edgeArgs('relay'), '--user', RELAY], { apiKey: 'not-the-key' });
    assert.equal(wrongKey.code, 1, wrongKey.stdout);
    assert.match(wrongKey.stdout, /^edge +problem +a valid API key is required .*invalid_api_key/m);
  });

  test('usage errors exit 2: plain text to a host that is not loopback, no token source', async () => {
    const remote = await stack.mailconnect(['doctor', '--token-stdin', '--user', RELAY, '--imap', 'imap.contoso.dev:143', '--security', 'plain'], { input: 'x' });
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /loopback addresses only/);
    assert.equal((await stack.mailconnect(['doctor', '--user', RELAY])).code, 2);
  });
});
