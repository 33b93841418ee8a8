#!/usr/bin/env bash
# One budget per partner tenant, at the real limit: two runs on the same tenant at once (the
# nightly job and an operator's resume), ROWS each, with LATENCY_MS ± 50% per create, against the
# emulator's strict 500-per-60-s window. Promises: zero 429s, never more than 500 requests to
# /v1/customers in any 60 s window, together >= 90% of the limit (first to last create).
#
#   benches/budget.sh [ROWS] [LATENCY_MS]     (default 800 rows each, 2000 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-800}
latency=${2:-2000}
source benches/lib.sh
work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null; rm -rf "$work"' EXIT
make_sheet "$work/nightly.csv" "$rows" nightly
make_sheet "$work/operator.csv" "$rows" operator
start_emulator "$work" --latency-ms "$latency" --jitter-ms $((latency / 2)) --seed 7
cd "$work"
export XDG_STATE_HOME=$work/state
"$BIN" run nightly.csv --journal nightly.sqlite --no-progress > nightly.out 2> nightly.err &
first=$!
"$BIN" run operator.csv --journal operator.sqlite --no-progress > operator.out 2> operator.err &
second=$!
wait "$first" "$second"
tail -n1 nightly.out operator.out

curl -s "$BASE/_emulator/log" > log.json
rate_report log.json $((2 * rows)) "two runs on one tenant" 90
