#!/usr/bin/env bash
# The whole test suite: unit, integration (real drover processes on loopback) and the real
# third-party clients (pymesos, marathon-python, the Mesos CLI). This is the README's test command.
# It first builds the clients' venvs under $PYC (default /tmp/drover-clients) with
# tests/clients/setup.sh, at the versions pinned in tests/clients/requirements-*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in curl tar unzip gzip openssl python3 flock; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is needed by the tests (.ci/run installs it)" >&2; exit 1; }
done
bash tests/clients/setup.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace "$@"
fi
