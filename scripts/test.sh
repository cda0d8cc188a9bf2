#!/usr/bin/env bash
# Runs every mailconnect test on a fresh clone: installs the toolchain (idempotently), checks
# format and lints, runs the core unit tests, the browser module's tests in Chromium, Firefox and
# WebKit, the Worker's integration tests in workerd, the end-to-end tests (tests/e2e, every scenario
# in Chromium, Firefox and WebKit), the mail tests against Dovecot (tests/mail, in
# the node step), the bundle size check, and the package's TypeScript types (tsc on
# tests/web-import/usage.ts).
# Prints a closing "N passed, N failed" line over all runners.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
LOGS=$(mktemp -d)
# Browsers, Workers and mail servers a test could leave behind: those running before this run are not ours.
LEFTOVERS='chromium|chrome|workerd|wrangler|dovecot'
LEFTOVERS+='|firefox-esr|geckodriver|WebKitWebDriver|MiniBrowser|WebKitWebProcess|WebKitNetworkProcess|Xvfb'
before=$(pgrep -d' ' -f "$LEFTOVERS" || true)

cleanup() {
  # Whatever of those this run started and left behind goes, by PID; nothing else is touched.
  local pid
  for pid in $(pgrep -f "$LEFTOVERS" || true); do
    case " $before " in *" $pid "*) ;; *) kill "$pid" 2>/dev/null || true ;; esac
  done
  rm -rf "$LOGS"
}
trap cleanup EXIT
# Killed or interrupted, bash skips the EXIT trap unless the signal becomes an exit; the running
# step (and the test runner under it) is stopped first.
trap 'pkill -TERM -P $$ 2>/dev/null; exit 130' INT
trap 'pkill -TERM -P $$ 2>/dev/null; exit 143' TERM

failed_steps=()
step() {
  local name=$1; shift
  printf '\n\033[1m== %s\033[0m\n' "$name"
  # In the background so that a signal's trap runs at once, not when the step ends.
  "$@" 2>&1 | tee "$LOGS/$(echo "$name" | tr ' /' '__').log" &
  if ! wait $!; then
    failed_steps+=("$name")
  fi
}

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

step "format" cargo fmt --all --check
step "clippy core" cargo clippy -p mailconnect-core --all-targets --all-features -- -D warnings
step "clippy core (browser features)" cargo clippy -p mailconnect-core --target wasm32-unknown-unknown -- -D warnings
step "clippy web" cargo clippy -p mailconnect-web --target wasm32-unknown-unknown --all-targets -- -D warnings
step "clippy edge" cargo clippy -p mailconnect-edge --target wasm32-unknown-unknown --all-targets -- -D warnings
step "clippy cli" cargo clippy -p mailconnect-cli --all-targets -- -D warnings
step "core tests" cargo test -p mailconnect-core --all-features
step "cli tests" cargo test -p mailconnect-cli
step "edge unit tests" cargo test -p mailconnect-edge
step "core doc tests (browser features)" cargo test -p mailconnect-core --doc
step "build web" bash scripts/build-web.sh
step "web tests" bash scripts/test-web.sh
step "build edge" bash scripts/build-edge.sh
step "deploy check" bash scripts/check-deploy.sh
step "web bundle size" node scripts/size-web.mjs
step "web types (tsc)" node_modules/.bin/tsc --noEmit --strict -p tests/web-import/tsconfig.json
step "node tests" node --test --test-concurrency=1 tests/
# tests/e2e ran in Chromium (BROWSER's default) above; here in the two other engines.
step "e2e firefox" env BROWSER=firefox node --test --test-concurrency=1 tests/e2e/
step "e2e webkit" env BROWSER=webkit node --test --test-concurrency=1 tests/e2e/

# One closing line over every runner: cargo ("test result: ok. N passed; M failed") and
# node ("# pass N" / "# fail N").
passed=0; failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  cat "$LOGS"/*.log | sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p'
  cat "$LOGS"/*.log | awk '/^# pass /{p+=$3; seen=1} /^# fail /{f+=$3} END{if (seen) print p+0, f+0}'
)
if ((${#failed_steps[@]})); then
  echo "failed steps: ${failed_steps[*]}"
  failed=$((failed > 0 ? failed : 1))
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_steps[@]} -eq 0 ]
