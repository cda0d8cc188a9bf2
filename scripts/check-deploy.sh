#!/usr/bin/env bash
# Checks that wrangler.toml deploys: `wrangler deploy --dry-run` of the default configuration and
# of [env.production] bundles the built Worker (scripts/build-edge.sh first) and validates the
# configuration as a real deploy would, offline and without a login. The bundles go to
# build/deploy-check/; nothing is uploaded.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f crates/edge/build/index.js ] || { echo "check-deploy: crates/edge/build/index.js missing (run scripts/build-edge.sh)" >&2; exit 1; }
out=build/deploy-check
rm -rf "$out"
# Quiet and offline, and writing nothing in $HOME.
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false CI=1
export XDG_CONFIG_HOME="$PWD/.wrangler/config"

for env in "" production; do
  echo "check-deploy: wrangler deploy --dry-run${env:+ --env $env}"
  npx --no-install wrangler deploy --dry-run --outdir "$out/${env:-default}" ${env:+--env "$env"}
done
