// The package as npm publishes it: `npm pack` of crates/web/pkg (from scripts/build-web.sh), the
// tarball installed offline into a new project in a temporary folder (the package has no
// dependencies, so no registry is asked), and `mailconnect`, `mailconnect/links` and
// `mailconnect/meetings` imported there by name: Node resolves and loads them, and tsc --strict
// (moduleResolution nodenext) finds their types through the package's `exports`.
//
//   node --test tests/web-import/pack.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../../', import.meta.url).pathname;
const PKG = join(REPO, 'crates/web/pkg');
const TSC = join(REPO, 'node_modules/.bin/tsc');
const ENTRIES = {
  mailconnect: ['default', 'Connector', 'handleCallback', 'MailconnectError'],
  'mailconnect/links': ['parseMessageLink', 'messageLinkUrl', 'linkedMessage', 'parseMailto', 'registerMailtoHandler'],
  'mailconnect/meetings': ['TeamsMeetings', 'DEFAULT_GRAPH_BASE'],
};

/** What the project's code imports: each entry resolved, loaded, and its export names. */
const IMPORTS = `
const out = {};
for (const name of ${JSON.stringify(Object.keys(ENTRIES))}) {
  out[name] = { resolved: import.meta.resolve(name), exports: Object.keys(await import(name)) };
}
console.log(JSON.stringify(out));
`;

/** The project's TypeScript: types from the installed package, strict; wrong uses must not compile. */
const USAGE_TS = `
import init, { Connector, MailconnectError, type Status } from "mailconnect";
import { parseMailto, type Compose } from "mailconnect/links";
import { TeamsMeetings, type Meeting } from "mailconnect/meetings";

export async function start(): Promise<Status> {
  await init();
  const teams = await Connector.load({ edge: "/oauth", connector: "teams" });
  const draft: Compose = parseMailto("mailto:grace@contoso.com");
  const meetings = new TeamsMeetings({ tokens: teams });
  const meeting: Meeting = await meetings.get(draft.to[0]);
  // @ts-expect-error a typed package refuses an unknown mode
  teams.connect({ mode: "tab" });
  try {
    return await teams.connect({ mode: "popup" });
  } catch (e) {
    if (e instanceof MailconnectError && e.action === "retry") return { connected: false };
    throw new Error(meeting.subject);
  }
}
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    // The declarations use Symbol.dispose (wasm-bindgen's `free()` as a disposable).
    lib: ['es2022', 'esnext.disposable', 'dom'],
    types: [],
  },
  files: ['usage.ts'],
};

const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('npm pack of the package, installed offline into a new project', () => {
  let dir;
  let app;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mailconnect-pack-'));
    const [{ filename }] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], PKG));
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "webmail", "private": true, "type": "module" }\n');
    npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--cache', join(dir, 'npm-cache'), join(dir, filename)], app);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the project depends on mailconnect from the tarball, with the wasm and every declaration file', () => {
    const installed = join(app, 'node_modules/mailconnect');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    assert.equal(manifest.name, 'mailconnect');
    assert.match(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).dependencies.mailconnect, /^file:.*\.tgz$/);
    for (const file of ['mailconnect_bg.wasm', manifest.types, 'links.d.ts', 'meetings.d.ts']) {
      assert.ok(existsSync(join(installed, file)), `${file} is installed`);
    }
  });

  test('mailconnect, mailconnect/links and mailconnect/meetings resolve to the installed package and load in Node', () => {
    const result = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', IMPORTS], { cwd: app, encoding: 'utf8' }));
    for (const [name, expected] of Object.entries(ENTRIES)) {
      assert.ok(result[name].resolved.startsWith(`file://${app}/node_modules/mailconnect/`), `${name}: ${result[name].resolved}`);
      for (const exported of expected) assert.ok(result[name].exports.includes(exported), `${name} exports ${exported}: ${result[name].exports}`);
    }
  });

  test('tsc --strict finds the types of all three through the package\'s exports', () => {
    writeFileSync(join(app, 'usage.ts'), USAGE_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    try {
      execFileSync(TSC, ['-p', join(app, 'tsconfig.json')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      assert.fail(`tsc: ${e.stdout}${e.stderr}`);
    }
  });
});
