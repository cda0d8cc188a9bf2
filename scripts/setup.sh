#!/usr/bin/env bash
# Installs every tool mailconnect needs, from the package registries only.
# Idempotent: each step checks for the right version first and skips when present.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen in Cargo.lock
WORKER_BUILD_VERSION=0.8.7     # must match crate `worker`
WASM_PACK_VERSION=0.15.1
TWIGGY_VERSION=0.8.0           # the wasm size profiler of `node scripts/size-web.mjs --verbose`
GECKODRIVER_VERSION=0.37.1     # WebDriver for Firefox ESR (browser and end-to-end tests)

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
# The x.y.z a tool prints of itself ("wasm-pack 0.15.1", "0.8.7"), or nothing.
version_of() { "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

missing_apt=()
have chromium || missing_apt+=(chromium)
have chromedriver || missing_apt+=(chromium-driver)
# The mail server of tests/mail (tests/support/mail-server.mjs runs it as a process of its own,
# with a certificate it makes with openssl).
have openssl || missing_apt+=(openssl)
for package in dovecot-imapd dovecot-pop3d dovecot-submissiond; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q ' installed$' || missing_apt+=("$package")
done
# The other two engines the browser tests run in: Firefox, and WebKit (Safari's engine: its
# WebDriver and MiniBrowser, which has no headless mode, hence a virtual X server).
have firefox-esr || missing_apt+=(firefox-esr)
have WebKitWebDriver || missing_apt+=(webkit2gtk-driver)
have Xvfb || missing_apt+=(xvfb)
# c++filt, with which scripts/gc-web-data.mjs reads the linker's (mangled) function names.
have c++filt || missing_apt+=(binutils)
if ((${#missing_apt[@]})); then
  log "apt-get install ${missing_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing_apt[@]}" >/dev/null
fi

if [ "$(version_of wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 8 minutes, once)"
  # No --locked: its lockfile wants a webpki-roots version the registry mirror lacks.
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(version_of wasm-pack)" != "$WASM_PACK_VERSION" ]; then
  log "cargo install wasm-pack $WASM_PACK_VERSION (about 7 minutes, once)"
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi

if [ "$(version_of worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  log "cargo install worker-build $WORKER_BUILD_VERSION (about 10 minutes, once)"
  cargo install -q worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

if [ "$(version_of twiggy)" != "$TWIGGY_VERSION" ]; then
  log "cargo install twiggy $TWIGGY_VERSION (about 5 minutes, once)"
  cargo install -q twiggy --version "$TWIGGY_VERSION" --locked --force
fi

if [ "$(version_of geckodriver)" != "$GECKODRIVER_VERSION" ]; then
  log "cargo install geckodriver $GECKODRIVER_VERSION (about 3 minutes, once)"
  cargo install -q geckodriver --version "$GECKODRIVER_VERSION" --locked --force
fi

# npm ci again only when the lockfile changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.mailconnect-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.mailconnect-lock-hash
fi
log "toolchain ready"
