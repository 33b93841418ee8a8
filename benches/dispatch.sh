#!/usr/bin/env bash
# Dispatch throughput with the rate limit off, against what a load generator gets from the same
# emulator (target: >= 50%).
#
# Each round runs `csp-onboard run --rate-limit off` on a sheet of ROWS valid customers against a
# fresh emulator (throttling and latency off) — durable journal (WAL, synchronous=FULL) and sealed
# credentials included, default concurrency — and then wrk for 10 s with 32 connections against
# another fresh emulator (benches/emulator-wrk.sh). Rounds alternate so that both see the same
# machine; the medians are compared.
#
#   benches/dispatch.sh [ROWS] [ROUNDS]     (default 100000 rows, 5 rounds)
#   EXTRA="--concurrency 200" benches/dispatch.sh     (flags for `run`)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
rounds=${2:-5}
source benches/lib.sh
work=$(mktemp -d)
trap 'stop_emulator; rm -rf "$work"' EXIT
make_sheet "$work/sheet.csv" "$rows" dispatchbench

ours=() theirs=()
for round in $(seq "$rounds"); do
    # shellcheck disable=SC2086
    ours+=("$(dispatch_creates "$work" sheet.csv ${EXTRA:-})")
    theirs+=("$(wrk_creates "$work" 10 32)")
    echo "round $round: csp-onboard ${ours[-1]} creates/s, wrk ${theirs[-1]} creates/s"
done
python3 - "${ours[*]}" "${theirs[*]}" "$rows" <<'PY'
import statistics, sys
ours = [int(x) for x in sys.argv[1].split()]
theirs = [int(x) for x in sys.argv[2].split()]
a, b = statistics.median(ours), statistics.median(theirs)
shares = sorted(100 * o / t for o, t in zip(ours, theirs))
print(f"median: csp-onboard {a:.0f} creates/s ({sys.argv[3]} rows, journal durable, credentials sealed), "
      f"wrk {b:.0f} creates/s: {100 * a / b:.0f}% (target >= 50%)")
print(f"round by round: {', '.join(f'{s:.0f}%' for s in shares)}; median {statistics.median(shares):.0f}%")
PY
