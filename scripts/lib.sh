# Shared helpers for scripts/*: install what is missing, never assume a prepared machine.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# The interpreter .venv is made from: $PYTHON when set; otherwise the distribution's own
# /usr/bin/python3 when it is CPython 3.11 or newer; otherwise the first python3 on PATH.
# Why the distribution's: Debian (as Ubuntu and Fedora) builds it with PGO and LTO and links
# it statically; on it the gateway used 0.87x the CPU per request it used on a version
# manager's default build (pyenv: --enable-shared, neither --enable-optimizations nor
# --with-lto), and its main thread 0.85x the instructions (bench/RESULTS.md, session 13).
pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c \
      'import sys; sys.exit(not (sys.implementation.name == "cpython" and sys.version_info >= (3, 11)))' 2>/dev/null; then
    echo /usr/bin/python3
    return
  fi
  echo python3
}
PY="$(pick_python)"
_APT_UPDATED=0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ensure_apt PKG...: install the Debian packages that are not installed yet.
ensure_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ "$_APT_UPDATED" = 0 ]; then as_root apt-get update -qq; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_venv: .venv with the package and its dev tools, refreshed when pyproject.toml changes.
ensure_venv() {
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then ensure_apt python3-venv; fi
  if [ -e "$VENV/pyvenv.cfg" ]; then  # made from another interpreter (an older checkout, PYTHON=...), or
    # from one that no longer runs (its link dangles: `python -m venv` would fail over it): made again
    local want have
    want="$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
    have="$("$VENV/bin/python" -c 'import os, sys; print(os.path.realpath(sys._base_executable))' 2>/dev/null || true)"
    if [ "$want" != "$have" ]; then
      say "recreating $VENV from $want (it was made from ${have:-an interpreter that no longer runs})"
      rm -rf "$VENV"
    fi
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    say "installing cpragate and its dependencies into .venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check -U pip
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]"
    touch "$stamp"
  fi
  ensure_web
  ensure_accel
}

# ensure_accel: the per-request modules compiled with mypyc into build/accel (see
# src/cpragate/_accel.py); rebuilt when any of their sources changed. A failed build leaves
# the gateway on the pure-Python source (slower, same behaviour); with CI=true it fails.
ensure_accel() {
  command -v gcc >/dev/null 2>&1 || ensure_apt gcc
  "$VENV/bin/python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || ensure_apt python3-dev
  if ! "$VENV/bin/python" "$ROOT/scripts/build_accel.py"; then
    if [ "${CI:-}" = "true" ]; then
      echo "the compiled data plane did not build (see above)" >&2
      return 1
    fi
    echo "note: running the pure-Python data plane (slower); see the mypyc error above" >&2
  fi
}

# ensure_web: the dashboard's third-party scripts, from the npm registry (package-lock.json),
# copied into src/cpragate/admin/web/static/vendor where the admin listener serves them.
ensure_web() {
  local web="$ROOT/src/cpragate/admin/web"
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
  local stamp="$web/static/vendor/.built"
  if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ] || [ "$web/build.mjs" -nt "$stamp" ]; then
    say "installing the dashboard's scripts (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error && npm run -s build)
    touch "$stamp"
  fi
}

# ensure_services: the shared Redis (6379) and PostgreSQL (5432, db `test`) answer on loopback.
# With CI=true a service that cannot be started is a failure, never a skip.
ensure_services() {
  ensure_apt redis-server redis-tools postgresql postgresql-client
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting redis on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" >/dev/null || true
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    say "starting postgresql on 127.0.0.1:5432"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 0.1; done
  fi
  local ok=1
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "redis is not answering on 127.0.0.1:6379" >&2; ok=0; }
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || { echo "postgresql is not answering on 127.0.0.1:5432" >&2; ok=0; }
  if [ "$ok" = 1 ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
  fi
  if [ "$ok" = 0 ] && [ "${CI:-}" = "true" ]; then
    echo "required services are down and CI=true: failing (never skipping)" >&2
    return 1
  fi
}
