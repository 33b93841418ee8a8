#!/usr/bin/env bash
# The real limit, measured: 500 requests/min for ~3 minutes against the emulator's strict
# 60-second sliding window, with LATENCY_MS ± 50% latency per request, at csp-onboard's default
# settings. Promises: zero 429s, never more than 500 requests to /v1/customers in any 60 s window,
# and creates admitted at >= 99% of the limit (first to last create, by arrival at the server).
#
#   benches/rate.sh [ROWS] [LATENCY_MS]     (default 1600 rows ≈ 3.2 minutes, 2000 ms)
#   for ms in 200 2000 15000 30000; do benches/rate.sh 1600 $ms; done
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1600}
latency=${2:-2000}
source benches/lib.sh
work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null; rm -rf "$work"' EXIT
make_sheet "$work/sheet.csv" "$rows" ratebench
start_emulator "$work" --latency-ms "$latency" --jitter-ms $((latency / 2)) --seed 5
cd "$work"
"$BIN" run sheet.csv --journal job.sqlite --no-progress | tail -1

curl -s "$BASE/_emulator/log" > log.json
rate_report log.json "$rows" "latency $(python3 -c "print(f'{$latency / 1000:g}')") s ± 50%" 99
