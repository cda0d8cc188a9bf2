// The certificate of the local stack's https mode (stack.mjs --https, scripts/dev.sh --https),
// made with the openssl command: a CA of this machine's own, and a certificate it signs for
// localhost and 127.0.0.1 (the webmail and edge, and the OAuth server). Both stay in
// .wrangler/tls/ (gitignored) so that a person trusts the CA once; the server certificate is
// made anew when it is missing or about to expire. Nothing is downloaded.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);

/** Whether `certPath` exists and stays valid for at least another day. */
async function stillValid(certPath) {
  if (!existsSync(certPath)) return false;
  try {
    await run('openssl', ['x509', '-checkend', '86400', '-noout', '-in', certPath]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves to { caPath, keyPath, certPath, ca, key, cert } (paths, and the PEM texts) in
 * `dir`/tls/, making what is missing or expiring.
 */
export async function localCertificate(dir) {
  const tls = join(dir, 'tls');
  const paths = { caPath: join(tls, 'ca.pem'), keyPath: join(tls, 'key.pem'), certPath: join(tls, 'cert.pem') };
  if (!(await stillValid(paths.certPath)) || !(await stillValid(paths.caPath))) {
    // Made in a folder of its own and moved in whole, so a reader never sees half of it.
    await mkdir(dir, { recursive: true });
    const work = await mkdtemp(join(dir, 'tls-'));
    const at = (name) => join(work, name);
    const keepCa = await stillValid(paths.caPath) && existsSync(join(tls, 'ca.key'));
    if (keepCa) {
      await writeFile(at('ca.pem'), await readFile(paths.caPath));
      await writeFile(at('ca.key'), await readFile(join(tls, 'ca.key')), { mode: 0o600 });
    } else {
      await run('openssl', ['req', '-x509', '-new', '-newkey', 'rsa:2048', '-nodes', '-days', '3650',
        '-keyout', at('ca.key'), '-out', at('ca.pem'), '-subj', '/CN=mailconnect local development CA',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    }
    await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes',
      '-keyout', at('key.pem'), '-out', at('server.csr'), '-subj', '/CN=localhost']);
    await writeFile(at('server.ext'), [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'));
    // 397 days: the longest a server certificate may live for Safari and Chrome.
    await run('openssl', ['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'),
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '397', '-extfile', at('server.ext'), '-out', at('cert.pem')]);
    await rm(tls, { recursive: true, force: true });
    await rename(work, tls);
  }
  const [ca, key, cert] = await Promise.all([paths.caPath, paths.keyPath, paths.certPath].map((p) => readFile(p, 'utf8')));
  return { ...paths, ca, key, cert };
}
