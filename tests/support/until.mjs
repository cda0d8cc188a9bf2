// Waiting for a condition, not for a fixed time: a fixed sleep is too short on a loaded machine
// and too long on an idle one.
//
//   await until(() => server.counters().token.total === 1, 'one token request');

import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves to the first truthy result of `check` (a function, possibly async), asked every
 * `every` ms; rejects after `timeout` ms with an error that names `what` and, when `check` says
 * so, what it last saw (`describe()`).
 */
export async function until(check, what, { timeout = 10_000, every = 100, describe } = {}) {
  for (const deadline = Date.now() + timeout; ; await sleep(every)) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeout} ms${describe ? `: ${await describe()}` : ''}`);
  }
}
