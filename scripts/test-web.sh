#!/usr/bin/env bash
# Runs the browser module's wasm-bindgen tests (crates/web/tests) in three engines, one after the
# other: Chromium (chromedriver), Firefox ESR (geckodriver) and WebKit, Safari's engine
# (WebKitWebDriver driving MiniBrowser, which has no headless mode, on an Xvfb display this
# script starts). BROWSERS="chromium firefox webkit" (the default) picks them; extra arguments go
# to `cargo test` (e.g. `-- --nocapture`).
#
# wasm-bindgen-test-runner leaves browser processes and temp folders behind, so this script runs
# each WebDriver server (and Xvfb) itself, each in a session of its own and with a private TMPDIR,
# then ends every process of those sessions and removes that folder, whatever happens. The
# runner is told the driver's address (<DRIVER>_REMOTE), so it starts and downloads nothing.
# Exits non-zero when any engine's tests fail.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

BROWSERS=${BROWSERS:-chromium firefox webkit}
# Debian's webkit2gtk-driver: WebKitWebDriver starts this MiniBrowser (with --automation) by default.
MINIBROWSER=${MINIBROWSER:-/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser}

need() {
  command -v "$1" >/dev/null || { echo "test-web: $1 not found; run scripts/setup.sh" >&2; exit 2; }
}
need wasm-bindgen-test-runner
for browser in $BROWSERS; do
  case $browser in
    chromium) need chromium; need chromedriver ;;
    firefox) need firefox-esr; need geckodriver ;;
    webkit) need WebKitWebDriver; need Xvfb
      [ -x "$MINIBROWSER" ] || { echo "test-web: $MINIBROWSER not found; run scripts/setup.sh" >&2; exit 2; } ;;
    *) echo "test-web: unknown browser '$browser' (chromium, firefox, webkit)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mailconnect-web-test.XXXXXX")
sessions=()

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# Ends every process of the sessions this script started (browsers reparented after their
# driver exited included): TERM, then KILL after two seconds.
stop_sessions() {
  local pids leader try
  for try in 1 2 3 4 5 6 7 8 9 10 11; do
    pids=""
    for leader in "${sessions[@]}"; do
      # Zombies (exited, waiting for a parent that may never reap them) need no ending.
      pids+=" $(ps -o pid=,stat= -s "$leader" 2>/dev/null | awk '$2 !~ /^Z/ { printf "%s ", $1 }')"
    done
    [ -z "${pids// /}" ] && break
    if [ "$try" = 11 ]; then kill -KILL $pids 2>/dev/null; else kill -TERM $pids 2>/dev/null; fi
    sleep 0.2
  done
  sessions=()
}
cleanup() {
  stop_sessions
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# `start NAME COMMAND...`: COMMAND in a session of its own (setsid), its TMPDIR in $work.
start() {
  local name=$1; shift
  TMPDIR="$work" setsid "$@" >"$work/$name.log" 2>&1 &
  sessions+=($!)
}

wait_for() {
  for _ in $(seq 100); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "test-web: $1 did not answer; log:" >&2
  cat "$2" >&2
  return 1
}

# `run_engine BROWSER`: starts its driver, runs the tests against it, stops it; the tests' status.
run_engine() {
  local browser=$1 port driver_env log
  shift
  port=$(free_port)
  case $browser in
    chromium)
      log=chromedriver
      start "$log" chromedriver --port="$port"
      driver_env=CHROMEDRIVER_REMOTE
      cat >"$work/webdriver.json" <<JSON
{ "goog:chromeOptions": { "binary": "$(command -v chromium)", "args": [
  "--user-data-dir=$work/chromium-profile", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run" ] } }
JSON
      ;;
    firefox)
      log=geckodriver
      start "$log" geckodriver --port "$port" --host 127.0.0.1 --binary "$(command -v firefox-esr)"
      driver_env=GECKODRIVER_REMOTE
      # The runner adds -headless; the prefs keep Firefox from calling home.
      cat >"$work/webdriver.json" <<JSON
{ "moz:firefoxOptions": { "prefs": {
  "app.update.disabledForTesting": true, "browser.shell.checkDefaultBrowser": false,
  "datareporting.policy.dataSubmissionEnabled": false, "toolkit.telemetry.enabled": false,
  "network.captive-portal-service.enabled": false, "extensions.update.enabled": false } } }
JSON
      ;;
    webkit)
      # -displayfd: Xvfb takes a free display number and writes it once it accepts clients.
      start xvfb Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$work/display"
      for _ in $(seq 50); do [ -s "$work/display" ] && break; sleep 0.1; done
      [ -s "$work/display" ] || { echo "test-web: Xvfb did not start:" >&2; cat "$work/xvfb.log" >&2; return 1; }
      log=webkitwebdriver
      start "$log" env DISPLAY=":$(cat "$work/display")" WebKitWebDriver --port="$port" --host=127.0.0.1
      # The runner sends Safari no capabilities, so the driver's default browser runs: MiniBrowser.
      driver_env=SAFARIDRIVER_REMOTE
      echo '{}' >"$work/webdriver.json"
      ;;
  esac
  wait_for "http://127.0.0.1:$port/status" "$work/$log.log" || return 1

  env "$driver_env=http://127.0.0.1:$port" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    WASM_BINDGEN_TEST_ONLY_WEB=1 \
    WASM_BINDGEN_TEST_WEBDRIVER_JSON="$work/webdriver.json" \
    cargo test -p mailconnect-web --target wasm32-unknown-unknown "$@" 2>&1 | tee "$work/$browser.output"
  local status=${PIPESTATUS[0]}
  stop_sessions
  return "$status"
}

failed=()
for browser in $BROWSERS; do
  printf '\n\033[1mtest-web: %s\033[0m\n' "$browser"
  started=$SECONDS
  run_engine "$browser" "$@" || failed+=("$browser")
  echo "test-web: $browser took $((SECONDS - started)) s"
done

echo "test-web summary:"
for browser in $BROWSERS; do
  echo "  $browser:"
  grep -E "^test result:|^running [0-9]+ tests|^failures:|^    [a-z_0-9]+$" "$work/$browser.output" 2>/dev/null | sed 's/^/    /'
done
if ((${#failed[@]})); then
  echo "test-web: failed in ${failed[*]}"
  exit 1
fi
