#!/usr/bin/env bash
# Dispatch throughput with the rate limit off: `csp-onboard run --rate-limit off` against the
# emulator (throttling and latency off), durable journal (WAL, synchronous=FULL) and sealed
# credentials included, at default concurrency. Compare with what a load generator gets from the
# same emulator: benches/emulator-wrk.sh (target: >= 50% of that).
#
#   benches/dispatch.sh [ROWS]     (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-20000}
source benches/lib.sh
work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null; rm -rf "$work"' EXIT
make_sheet "$work/sheet.csv" "$rows" dispatchbench
start_emulator "$work" --rate-limit off
cd "$work"
"$BIN" run sheet.csv --journal job.sqlite --rate-limit off --no-progress ${EXTRA:-} | tail -1

curl -s "$BASE/_emulator/log" > log.json
python3 - log.json "$rows" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
creates = sorted(e["t"] for e in log if e["path"] == "/v1/customers" and e["status"] == 201)
span = creates[-1] - creates[0]
print(f"{len(creates)}/{sys.argv[2]} created in {span:.2f} s = {(len(creates)-1)/span:.0f} creates/s (journal durable, credentials sealed)")
PY
