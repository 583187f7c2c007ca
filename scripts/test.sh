#!/usr/bin/env bash
# The whole test suite: unit, integration (real drover processes on loopback) and the real
# third-party clients (pymesos, the Mesos CLI). This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${DROVER_SHARED:-$(pwd)/../shared}"
if [ -x "$shared/clients/setup.sh" ] || [ -f "$shared/clients/setup.sh" ]; then
  bash "$shared/clients/setup.sh"
else
  echo "error: $shared/clients/setup.sh not found (set DROVER_SHARED to the shared/ folder)" >&2
  exit 1
fi
for tool in curl tar unzip gzip openssl python3; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is needed by the tests (apt-get install $tool)" >&2; exit 1; }
done
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace "$@"
fi
