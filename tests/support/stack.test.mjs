// The local stack fails loudly: when workerd or the OAuth server dies under it, the dev runner
// (`node tests/support/stack.mjs`, what scripts/dev.sh runs) says which part died and exits 1,
// and startStack's `failed` names it. Needs scripts/build-edge.sh first.
// Run: node --test tests/support/stack.test.mjs

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO, freePort, startStack } from './stack.mjs';

const TEST = { timeout: 120_000 };

/** The PIDs of every process under `root`, with their command names. */
function descendants(root) {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,comm='], { encoding: 'utf8' }).trim().split('\n')
    .map((line) => line.trim().split(/\s+/))
    .map(([pid, ppid, comm]) => ({ pid: Number(pid), ppid: Number(ppid), comm }));
  const found = [];
  let parents = [root];
  while (parents.length) {
    const children = rows.filter((row) => parents.includes(row.ppid));
    found.push(...children);
    parents = children.map((row) => row.pid);
  }
  return found;
}

/** Resolves to the first line of `stream` matching `pattern`, or rejects after `ms`. */
function waitForLine(stream, pattern, ms) {
  return new Promise((ok, fail) => {
    let text = '';
    const timer = setTimeout(() => fail(new Error(`no line matching ${pattern} within ${ms} ms:\n${text}`)), ms);
    stream.on('data', (chunk) => {
      text += chunk;
      if (pattern.test(text)) {
        clearTimeout(timer);
        ok(text);
      }
    });
  });
}

describe('the local stack fails loudly', () => {
  let runner;

  after(async () => {
    // The runner stops wrangler itself on SIGINT; whatever survives a failed assertion goes by PID.
    if (runner && runner.exitCode === null && runner.signalCode === null) {
      const left = descendants(runner.pid);
      runner.kill('SIGINT');
      await Promise.race([new Promise((ok) => runner.once('exit', ok)), sleep(15_000)]);
      for (const { pid } of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });

  test('the dev runner says the edge died and exits 1 when workerd is killed under it', TEST, async () => {
    const port = await freePort();
    runner = spawn(process.execPath, [join(REPO, 'tests/support/stack.mjs'), '--port', String(port), '--oauth-port', '0', '--quiet'], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    runner.stderr.on('data', (chunk) => { stderr += chunk; });
    const exited = new Promise((ok) => runner.once('exit', (code, signal) => ok({ code, signal })));
    await waitForLine(runner.stdout, /Ctrl-C stops everything/, 90_000);
    const health = await fetch(`http://127.0.0.1:${port}/oauth/health`);
    assert.equal(health.status, 200);

    const started = descendants(runner.pid);
    const workerd = started.filter((p) => p.comm === 'workerd');
    assert.ok(workerd.length > 0, 'workerd runs under the stack');
    for (const { pid } of workerd) process.kill(pid, 'SIGKILL');

    const end = await Promise.race([exited, sleep(30_000).then(() => null)]);
    assert.ok(end, `the runner still runs 30 s after workerd died; stderr:\n${stderr}`);
    assert.deepEqual(end, { code: 1, signal: null });
    assert.match(stderr, /mailconnect stack: (wrangler dev exited|the edge \(workerd\) on port \d+ stopped accepting connections)/);
    const alive = (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // wrangler's esbuild service ends on its own once its parent is gone, a moment later.
    for (let i = 0; i < 50 && started.some(({ pid }) => alive(pid)); i += 1) await sleep(100);
    assert.deepEqual(started.filter(({ pid }) => alive(pid)), [], 'nothing the stack started is left running');
  });

  test('startStack names the OAuth server when it stops under the running stack', TEST, async () => {
    const stack = await startStack();
    try {
      const pending = Symbol('pending');
      assert.equal(await Promise.race([stack.failed, sleep(1500).then(() => pending)]), pending, 'a healthy stack reports nothing');
      await stack.oauth.stop();
      const err = await Promise.race([stack.failed, sleep(15_000).then(() => null)]);
      assert.ok(err, 'the failure is reported within 15 s');
      assert.match(err.message, new RegExp(`^the OAuth server on port ${stack.oauth.port} stopped accepting connections`));
    } finally {
      await stack.stop();
    }
  });
});
