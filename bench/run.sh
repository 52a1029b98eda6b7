#!/usr/bin/env bash
# Reproducible data-plane benchmark for cpragate: `make bench` (full) or `make bench-ci`.
#
# Measures, in one run, on loopback (127.0.0.1), wrk with 32 connections and --latency:
#   origin direct | nginx reverse proxy | bare asyncio+httptools+uvloop (bench/ref_proxy.py)
#   | cpragate passthrough (no filters) | cpragate with examples/demo-policy.yaml (its request
#     rate limits raised to 1e9/s: one wrk consumer would otherwise meet them; bench/harness.py)
#   | the three proxies again with a TLS listener (self-signed P-256 cert, made here)
# for 1 KB and 64 KB JSON bodies, then each proxy's RSS holding 10,000 idle plain
# keep-alive clients and 1,000 idle TLS clients. Writes the "Latest run" block of
# bench/RESULTS.md (between its markers; the rest of the file is left alone) and raw
# logs + results.json under bench/out/<timestamp>/.
#
# Origin: its own nginx (1 worker, keep-alive, access_log off, config in a temp dir)
# answering ANY path with the same JSON document: port BASE serves the 1 KB body (one
# customer shaped like the demo API's, requested as GET /v1/customers/42), port BASE+1
# the 64 KB one (a page of customers, GET /v1/customers); proxies are restarted per
# row, pointed at one or the other. Proxies under test listen on BASE+10.
# BASE = $BENCH_PORT_BASE (28090).
#
# Pinning (documented so runs compare): with >= 2 cores, the proxy under test runs on
# core 0 (`taskset -c 0`), the origin and wrk share core 1. With one core nothing is
# pinned. CPU-µs per request (proxy utime+stime from /proc/<pid>/stat, all threads and
# worker processes, over the wrk run / requests completed) is the steadiest figure.
#
# Knobs (environment):
#   BENCH_QUICK=1          a few seconds per row, 1,000/100 idle clients, no thresholds;
#                          results go to bench/out/RESULTS-latest-partial.md, not RESULTS.md
#   BENCH_ROWS=a,b         subset of: origin,nginx,ref,cpragate,demo,nginx-tls,ref-tls,
#                          cpragate-tls (a subset is a partial run, like QUICK)
#   BENCH_SIZES=1k,64k     body sizes;  BENCH_MEM=0 skips the idle-client memory rows,
#                          BENCH_LOAD=0 the wrk rows
#   BENCH_DURATION, BENCH_WARMUP  seconds per row (default 10 / 3; quick 2 / 1)
#   BENCH_QUIET_PCT=15, BENCH_QUIET_WAIT=30  before each row, wait up to WAIT s for both
#                          cores to be under PCT % busy (others share the machine); quick: 0
#   BENCH_NOISY_PCT=15, BENCH_RETRY_NOISY=2  a run during which something else used more
#                          than PCT % of the proxy's core is redone (up to RETRY times) and
#                          the least disturbed attempt kept; quick: no retries
#   BENCH_REPEAT=N         N wrk runs per row, the row shows the run with the median req/s
#   BENCH_IDLE_PLAIN, BENCH_IDLE_TLS  idle client counts (10000 / 1000)
#   BENCH_PORT_BASE        first of the ports used (default 28090)
#   BENCH_CPRAGATE         cpragate executable (default .venv/bin/cpragate)
#   BENCH_PYTHON           Python with uvloop+httptools (default .venv/bin/python)
#   BENCH_DEMO_HEADERS     'Name: value; Name2: value2' for the demo row (default: the
#                          `# bench-header: Name: value` lines of the demo policy file)
#   BENCH_RESULTS          write the Markdown block to this file instead
# Exit status: 0, or 1 when a target of issue 2 is missed (full runs only).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

# --- what we need, installed only when missing (fresh Debian/Ubuntu machine)
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bench: installing ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

PY=${BENCH_PYTHON:-$ROOT/.venv/bin/python}
if ! "$PY" -c 'import uvloop, httptools' 2>/dev/null; then
    echo "bench: $PY lacks uvloop/httptools; run 'make install' or set BENCH_PYTHON" >&2
    exit 2
fi

# 10,000 idle clients need as many descriptors in the client and in the proxy
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 11000 ]; then
    echo "bench: open-files limit is $(ulimit -n); idle-client rows will be capped" >&2
    export BENCH_IDLE_PLAIN=${BENCH_IDLE_PLAIN:-$(( $(ulimit -n) - 500 ))}
fi

BENCH_TMP=$(mktemp -d /tmp/cpragate-bench.XXXXXX)
BENCH_OUT=$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)
export BENCH_TMP BENCH_OUT

# Every process the harness starts writes its pid (a session leader) to $BENCH_TMP/pids;
# on any exit, kill those process groups, then remove the temp dir.
harness=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$harness" ] && kill -0 "$harness" 2>/dev/null; then
        kill -TERM "$harness" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$harness" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$harness" 2>/dev/null || true
    fi
    if [ -f "$BENCH_TMP/pids" ]; then
        while read -r pid; do
            kill -TERM -- "-$pid" 2>/dev/null || true
        done <"$BENCH_TMP/pids"
        sleep 0.5
        while read -r pid; do
            kill -KILL -- "-$pid" 2>/dev/null || true
        done <"$BENCH_TMP/pids"
    fi
    rm -rf "$BENCH_TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$PY" "$ROOT/bench/harness.py" &
harness=$!
wait "$harness"
