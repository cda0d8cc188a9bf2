#!/usr/bin/env bash
# The README's first command: the local mailconnect stack, with no Azure tenant and no internet.
# Installs missing tools (scripts/setup.sh, idempotent), builds the npm package into www/pkg and
# the Worker, then serves the demo webmail, the edge's /oauth/* and a local Entra-like OAuth
# server: open http://localhost:8787/. Ctrl-C stops everything this started; when a part of the
# stack dies under it, it says which and exits 1. Users are on: sign in to the demo as Ada or
# Grace (the demo back end mints the tickets that bind the edge session to her).
# Options go to tests/support/stack.mjs: --port 8787 --oauth-port 9010 --access-token-ttl 90 --quiet
# --https (everything over https with a certificate made at the first start: what Safari needs).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

bash scripts/build-web.sh
bash scripts/build-edge.sh

# exec: Ctrl-C reaches the stack, which stops wrangler (and workerd) and the OAuth server by PID.
exec node tests/support/stack.mjs --users "$@"
