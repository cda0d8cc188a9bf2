// The bundler flavour of the package (crates/web/pkg-bundler, from scripts/build-web.sh) through a
// real bundler, as a webmail built with esbuild would use it: a small entry imports `mailconnect`,
// `mailconnect/links` and `mailconnect/meetings` by package name (resolved through the package's
// `exports`), esbuild bundles it with esbuild-plugin-wasm (wasm-bindgen's bundler target imports
// its wasm as an ES module, which esbuild does not do itself), and the bundle runs in headless
// Chromium from a loopback server. Everything started here is stopped here.
//
//   node --test tests/web-import/bundler.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, relative } from 'node:path';
import { build } from 'esbuild';
import { wasmLoader } from 'esbuild-plugin-wasm';
import { launchChromium } from '../support/chromium.mjs';

const PKG = new URL('../../crates/web/pkg-bundler/', import.meta.url).pathname;

/** The webmail's entry: what it imports and a check of each export, results in `window.result`. */
const ENTRY = `
import { Connector, MailconnectError, handleCallback } from "mailconnect";
import { parseMailto } from "mailconnect/links";
import { TeamsMeetings } from "mailconnect/meetings";

const failure = (e) => ({ isMailconnectError: e instanceof MailconnectError, isError: e instanceof Error, code: e.code, action: e.action });
const result = { exports: { Connector: typeof Connector.load, handleCallback: typeof handleCallback, TeamsMeetings: typeof TeamsMeetings } };
try {
  await Connector.load({ edge: "http://127.0.0.1:9/oauth", connector: "teams" });
} catch (e) {
  result.unreachableEdge = failure(e);
}
result.mailto = parseMailto("mailto:grace@contoso.com?subject=Hi");
try {
  new TeamsMeetings({});
} catch (e) {
  result.meetingsWithoutTokens = failure(e);
}
window.result = result;
`;

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

describe('the bundler build through esbuild', () => {
  let dir;
  let bundle;
  let server;
  let browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailconnect-bundler-'));
    // The app's node_modules holds the package as npm would install it from a link.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(PKG, join(dir, 'node_modules', 'mailconnect'), 'dir');
    writeFileSync(join(dir, 'entry.js'), ENTRY);
    writeFileSync(join(dir, 'package.json'), '{ "name": "webmail", "private": true, "type": "module" }\n');
    bundle = await build({
      absWorkingDir: dir,
      entryPoints: ['entry.js'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      outdir: 'dist',
      metafile: true,
      logLevel: 'silent',
      plugins: [wasmLoader()],
    });
    const dist = join(dir, 'dist');
    writeFileSync(join(dist, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="/entry.js"></script>');
    server = createServer((req, res) => {
      const path = join(dist, new URL(req.url, 'http://x').pathname);
      try {
        const body = readFileSync(path.startsWith(dist) ? path : join(dist, 'missing'));
        res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('esbuild resolves the three entry points by package name and emits the package\'s wasm beside one script', () => {
    const inputs = Object.keys(bundle.metafile.inputs).map((p) => join(dir, p));
    const fromPackage = inputs.filter((p) => p.startsWith(PKG)).map((p) => relative(PKG, p));
    const { exports } = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
    for (const entry of ['mailconnect', 'mailconnect/links', 'mailconnect/meetings']) {
      const target = exports[entry.replace('mailconnect', '.')];
      const file = typeof target === 'string' ? target : target.default;
      assert.ok(fromPackage.includes(file.replace(/^\.\//, '')), `${entry} (${file}) is in the bundle: ${JSON.stringify(fromPackage)}`);
    }
    const outputs = Object.keys(bundle.metafile.outputs);
    assert.deepEqual(outputs.map((p) => extname(p)).sort(), ['.js', '.wasm']);
    const wasm = outputs.find((p) => p.endsWith('.wasm'));
    assert.ok(readFileSync(join(dir, wasm)).equals(readFileSync(join(PKG, 'mailconnect_bg.wasm'))), 'the wasm is the package\'s, byte for byte');
    const script = readFileSync(join(dir, outputs.find((p) => p.endsWith('.js'))), 'utf8');
    assert.doesNotMatch(script, /from\s*["']mailconnect/, 'no import of the package is left for the browser to resolve');
  });

  test('the bundle runs in Chromium: the wasm instantiates, errors are MailconnectErrors, links and meetings work', async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    const result = await page.waitForFunction(() => window.result, null, { timeout: 20_000 }).then((h) => h.jsonValue());
    await page.close();
    assert.deepEqual(errors, []);
    assert.deepEqual(result.exports, { Connector: 'function', handleCallback: 'function', TeamsMeetings: 'function' });
    assert.deepEqual(result.unreachableEdge, { isMailconnectError: true, isError: true, code: 'network_error', action: 'retry' });
    assert.deepEqual(result.mailto, { to: ['grace@contoso.com'], cc: [], bcc: [], subject: 'Hi', body: '' });
    assert.deepEqual(result.meetingsWithoutTokens, { isMailconnectError: true, isError: true, code: 'configuration_error', action: 'configuration' });
  });
});
