#!/usr/bin/env bash
# Builds the venvs of real third-party clients of the Mesos/Marathon/DC/OS APIs that the tests
# drive (code that nobody on this project wrote), under $PYC (default /tmp/drover-clients), at
# the exact versions of the requirements-<venv>.txt files beside this script:
#   $PYC/mesos    pymesos 0.3.15, marathon-python 0.13.0, kazoo, dnspython
#   $PYC/mesoscli the Apache Mesos CLI (avmesos-cli 1.0.0): $PYC/mesoscli/bin/mesos agent|framework|task list
#   $PYC/dcos     the DC/OS CLI 0.6.1: $PYC/dcos/bin/dcos
#   $PYC/jobs     chronos-python 1.2.1 and dcos-metronome 0.3.0 (job scheduler clients)
#   $PYC/ui       playwright 1.65.2 and axe-playwright-python 0.1.8: the web UI's browser tests
#                 (tests/clients/ui_flows.py), driving Debian's chromium (/usr/bin/chromium, from
#                 .ci/run's apt-get); `playwright install` is never run (it downloads a browser)
# Each venv is built again when its requirements file or this script changed since it was built,
# and kept otherwise. Needs python3 (3.11) with venv and ensurepip (Debian: python3-venv) and
# PyPI, or the index pip is configured for. scripts/test.sh runs it first.
#
# Two shims make these old clients run on Python 3.11:
#  - marathon-python 0.13 and dcos 0.6.1 use collections.Mapping & co., gone since Python 3.10:
#    the mesos and dcos venvs import collections_abc_shim.py at startup, from a .pth file (not
#    as sitecustomize.py, which Debian's python3 has one of that comes first);
#  - pymesos needs http-parser, whose C extension does not build on Python 3.11: it is built from
#    its source with the extension turned off (the pure Python parser it falls back to).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PYC=${PYC:-/tmp/drover-clients}
python=${PYTHON:-python3}
http_parser_version=0.9.0

command -v "$python" >/dev/null || { echo "error: $python not found (apt-get install python3 python3-venv)" >&2; exit 1; }
"$python" -c 'import venv, ensurepip' 2>/dev/null ||
  { echo "error: $python cannot make venvs (apt-get install python3-venv)" >&2; exit 1; }
mkdir -p "$PYC"
# Two test runs sharing $PYC build it once: the second waits here, then finds it built.
exec 9>"$PYC/.lock"
flock 9

# What a venv was built from: its requirements, this script and the shim.
stamp() { cat "$here/requirements-$1.txt" "$here/setup.sh" "$here/collections_abc_shim.py" | sha256sum | cut -d' ' -f1; }

collections_shim() { # VENV: the collections.abc shim, run by a .pth file whenever python starts
  local site; site=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cp "$here/collections_abc_shim.py" "$site/drover_collections_abc_shim.py"
  echo 'import drover_collections_abc_shim' >"$site/drover_collections_abc_shim.pth"
}

http_parser() { # VENV: http-parser from its source, without the C extension
  local src; src=$(mktemp -d)
  "$1/bin/pip" download -q --no-deps --no-binary :all: -d "$src" "http-parser==$http_parser_version"
  tar xzf "$src/http-parser-$http_parser_version.tar.gz" -C "$src"
  local setup=$src/http-parser-$http_parser_version/setup.py
  sed -i 's/^def run_setup(with_binary):$/&\n    with_binary = False/' "$setup"
  grep -q '^    with_binary = False$' "$setup" ||
    { echo "error: $setup has no run_setup(with_binary) to patch" >&2; exit 1; }
  "$1/bin/pip" install -q --no-deps --no-build-isolation "$src/http-parser-$http_parser_version"
  rm -rf "$src"
}

mesos_wrapper() { # VENV: bin/mesos runs the Mesos CLI's module (the package installs no script)
  printf '#!/usr/bin/env bash\n# usage: MESOS_CLI_CONFIG=file.toml (with [master] address = "host:port") mesos agent list\nexec "%s" -m avmesos.cli.mesos-cli "$@"\n' \
    "$1/bin/python" >"$1/bin/mesos"
  chmod +x "$1/bin/mesos"
}

check() { # VENV: the clients import (and the CLIs start)
  case $1 in
    mesos) "$PYC/mesos/bin/python" -c 'import collections, pymesos, pymesos.process, marathon, kazoo, dns.resolver
assert collections.Mapping, "the collections.abc shim"' ;;
    mesoscli)
      local cfg; cfg=$(mktemp)
      printf '[master]\naddress = "127.0.0.1:5050"\n' >"$cfg"
      MESOS_CLI_CONFIG=$cfg "$PYC/mesoscli/bin/mesos" --help >/dev/null; local rc=$?
      rm -f "$cfg"; return $rc ;;
    dcos) "$PYC/dcos/bin/dcos" --version >/dev/null ;;
    jobs) "$PYC/jobs/bin/python" -c 'import chronos, metronome' ;;
    ui) "$PYC/ui/bin/python" -c 'import playwright.sync_api, axe_playwright_python.sync_playwright' ;;
  esac
}

for v in mesos mesoscli dcos jobs ui; do
  dir=$PYC/$v
  want=$(stamp "$v")
  if [ "$(cat "$dir/.drover-stamp" 2>/dev/null)" = "$want" ] && check "$v"; then
    continue
  fi
  echo "building $dir from tests/clients/requirements-$v.txt" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  # A venv of wheels only (ui) pins no build tools.
  grep -E '^(setuptools|wheel)==' "$here/requirements-$v.txt" >"$dir/build-requirements.txt" || true
  if [ -s "$dir/build-requirements.txt" ]; then
    "$dir/bin/pip" install -q --no-deps -r "$dir/build-requirements.txt"
  fi
  "$dir/bin/pip" install -q --no-deps --no-build-isolation -r "$here/requirements-$v.txt"
  case $v in
    mesos) http_parser "$dir"; collections_shim "$dir" ;;
    mesoscli) mesos_wrapper "$dir" ;;
    dcos) collections_shim "$dir" ;;
  esac
  check "$v" || { echo "error: the clients of $dir do not start (see above)" >&2; exit 1; }
  echo "$want" >"$dir/.drover-stamp"
done
echo "Python clients ready in $PYC"
