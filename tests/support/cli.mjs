// The `mailconnect` command (crates/cli), built for the tests that run it the way its users do.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './stack.mjs';

const run = promisify(execFile);

/** Builds the command (a no-op when it is up to date) and resolves to its path. */
export async function buildCli() {
  await run('cargo', ['build', '-q', '-p', 'mailconnect-cli'], { cwd: REPO });
  return join(REPO, 'target/debug/mailconnect');
}
