#!/usr/bin/env bash
# Runs the browser module's wasm-bindgen tests (crates/web/tests) in headless Chromium:
#   wasm-pack test --headless --chrome crates/web
# wasm-bindgen-test-runner leaves Chromium processes and temp folders behind, so this script runs
# chromedriver itself, in a session of its own and with a private TMPDIR, then ends every process
# of that session and removes that folder, whatever happens. Exits with the tests' status.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

for tool in wasm-pack wasm-bindgen-test-runner chromedriver chromium; do
  command -v "$tool" >/dev/null || { echo "test-web: $tool not found; run scripts/setup.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mailconnect-web-test.XXXXXX")
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')

# setsid: chromedriver leads a new session, and every Chromium process it starts stays in it
# (even when reparented after chromedriver exits), so the cleanup finds them by session id.
# TMPDIR: Chromium's org.chromium.Chromium.* folders land in $work, not in /tmp.
TMPDIR="$work" setsid chromedriver --port="$port" --log-path="$work/chromedriver.log" >/dev/null 2>&1 &
driver=$!

cleanup() {
  local pids
  pids=$(ps -o pid= -s "$driver" 2>/dev/null | tr -s ' \n' ' ')
  if [ -n "${pids// /}" ]; then
    kill -TERM $pids 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(ps -o pid= -s "$driver" 2>/dev/null | tr -s ' \n' ' ')
      [ -z "${pids// /}" ] && break
      sleep 0.2
    done
    [ -n "${pids// /}" ] && kill -KILL $pids 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/status" >/dev/null && break
  sleep 0.1
done

cat >"$work/webdriver.json" <<JSON
{ "goog:chromeOptions": { "binary": "$(command -v chromium)", "args": [
  "--user-data-dir=$work/profile", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run" ] } }
JSON

CHROMEDRIVER_REMOTE="http://127.0.0.1:$port" \
WASM_BINDGEN_TEST_WEBDRIVER_JSON="$work/webdriver.json" \
  wasm-pack --log-level warn test --headless --chrome crates/web "$@" 2>&1 | tee "$work/output"
status=${PIPESTATUS[0]}

echo "test-web summary:"
grep -E "^test result:|^running [0-9]+ tests|^failures:|^    [a-z_0-9]+$" "$work/output" | sed 's/^/  /'
exit "$status"
