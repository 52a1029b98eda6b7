#!/usr/bin/env bash
# A demo attack against `cpragate demo`: scraping, enumeration (BOLA probing) and a
# credential-stuffing burst, so the anomaly detectors raise alerts you can see in the
# gateway log and on the dashboard (Alerts). Run the demo first, in another terminal:
#
#   cpragate demo                      # prints the dashboard URL and the admin key
#   bash examples/attack.sh            # then open the dashboard's Alerts page
#
# Settings (environment): CPRAGATE_DEMO_PORT (8443), CPRAGATE_DEMO_STATE (.cpragate-demo,
# the folder `cpragate demo` wrote its CA into), CPRAGATE_DEMO_ADMIN_PORT (9901) and
# CPRAGATE_DEMO_ADMIN_KEY (the demo's published admin key) to list the alerts at the end.
#
# What happens (thresholds in src/cpragate/demo/policy.yaml, filters.anomaly):
#   1. scraping      support-app (its key "stolen") fetches 120 different customers in a
#                    few seconds: over 50 distinct subjects a minute -> alert, throttled
#                    to 1 request/s for 5 minutes (429 CPG-RATE-001).
#   2. enumeration   marketing-partner walks order ids 10001, 10002, ... most belong to
#                    other tenants (404): sequential walk + refusals -> alert, blocked for
#                    2 minutes (403 CPG-RATE-005).
#   3. credentials   40 requests with made-up API keys from this machine -> alert, this
#                    client IP blocked for 1 minute (403 CPG-RATE-005; so is the rest of
#                    your demo traffic from 127.0.0.1 for that minute).
# Blocks expire by themselves; lift them earlier on the dashboard or with
#   curl -X DELETE -H "authorization: Bearer $ADMIN_KEY" http://127.0.0.1:9901/api/blocks/consumer/support-app
set -euo pipefail

PORT="${CPRAGATE_DEMO_PORT:-8443}"
STATE="${CPRAGATE_DEMO_STATE:-.cpragate-demo}"
ADMIN_PORT="${CPRAGATE_DEMO_ADMIN_PORT:-9901}"
ADMIN_KEY="${CPRAGATE_DEMO_ADMIN_KEY:-demo-admin-key-4f7c2a9e1b6d8035}"
BASE="https://127.0.0.1:${PORT}"
CA="${STATE}/ca.pem"
SUPPORT_KEY="cpg_dgf2lgz3_ewF30G2dBW_Tx83hO7kVLYL5KY_kU1m0zieaepiPl5Q"
MARKETING_KEY="cpg_k6kmcfm4_ERMdnzNrr3kCo1MLp2Aju2K9QMEzh0j5c7WhGWWOrl0"

command -v curl >/dev/null || { echo "attack.sh needs curl; install it (apt-get install curl)" >&2; exit 2; }
[ -r "$CA" ] || { echo "no demo CA at $CA: start \`cpragate demo\` first, or set CPRAGATE_DEMO_STATE to its --state-dir" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One curl process per phase, reusing its connection: a curl config with one url/output
# pair per request; prints one status code per line.
burst() {  # burst NAME HEADER < urls
  local name="$1" header="$2" cfg="$work/$1.curl"
  : >"$cfg"
  while read -r url; do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"
  done
  if [ -n "$header" ]; then
    curl -s --cacert "$CA" -H "$header" -w '%{http_code}\n' -K "$cfg" >"$work/$name.codes" || true
  else
    curl -s --cacert "$CA" -w '%{http_code}\n' -K "$cfg" >"$work/$name.codes" || true
  fi
  printf '  %-12s %s\n' "$name" "$(sort "$work/$name.codes" | uniq -c | awk '{printf "%s×%s  ", $1, $2}')"
}

echo "cpragate demo attack against $BASE"
echo "1. scraping: support-app harvests 120 customers"
# the support app's tenant holds the customers whose id is a multiple of 3; shuffled, not a walk
seq 3 3 360 | shuf | sed "s|^|$BASE/v1/customers/|" | burst scraping "x-api-key: $SUPPORT_KEY"

echo "2. enumeration: marketing-partner walks order ids"
seq 10001 10080 | sed "s|^|$BASE/v1/orders/|" | burst enumeration "x-api-key: $MARKETING_KEY"

echo "3. credential stuffing: 40 made-up API keys"
: >"$work/stuffing.curl"
for i in $(seq 1 40); do
  key="cpg_$(head -c 64 /dev/urandom | tr -dc 'a-z2-7' | head -c 8)_$(head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 43)"
  [ "$i" -gt 1 ] && echo "next" >>"$work/stuffing.curl"
  printf 'cacert = "%s"\nsilent\nwrite-out = "%%{http_code}\\n"\nurl = "%s"\noutput = "/dev/null"\nheader = "x-api-key: %s"\n' \
    "$CA" "$BASE/v1/customers/3" "$key" >>"$work/stuffing.curl"
done
curl -K "$work/stuffing.curl" >"$work/stuffing.codes" || true
printf '  %-12s %s\n' "stuffing" "$(sort "$work/stuffing.codes" | uniq -c | awk '{printf "%s×%s  ", $1, $2}')"

echo
echo "Alerts (admin API, newest first):"
if out="$(curl -s --max-time 5 -H "authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:${ADMIN_PORT}/api/alerts")" && [ -n "$out" ]; then
  printf '%s\n' "$out" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
for a in (doc.get("alerts", []) if isinstance(doc, dict) else doc):
    print("  %-8s %-12s %s=%s: %s" % (a["severity"], a["detector"], a["subject_kind"], a["subject"], a["summary"]))
' 2>/dev/null || printf '%s\n' "$out"
else
  echo "  (admin listener not reachable on 127.0.0.1:${ADMIN_PORT}; see the gateway log lines \"alert …\")"
fi
echo "Open the dashboard (URL in the demo banner) to see them, and lift the blocks under Blocks."
