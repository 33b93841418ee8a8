#!/usr/bin/env bash
# How long a stop takes: a run at RATE against the emulator (LATENCY_MS per create) gets SIGNAL once
# the emulator has logged 5 creates; prints the seconds from the signal to the exit, the exit code
# and the rows left in flight (target: exit 4 within 3 s at any rate, 0 rows in flight).
#
#   benches/stop.sh [RATE] [SIGNAL] [LATENCY_MS]     (default 500/min INT 200)
#   benches/stop.sh 10/6s TERM 200
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500/min}
sig=${2:-INT}
latency=${3:-200}
source benches/lib.sh
work=$(mktemp -d)
trap 'stop_emulator; rm -rf "$work"' EXIT
make_sheet "$work/sheet.csv" 2000 stopbench
start_emulator "$work" --latency-ms "$latency"
cd "$work"
"$BIN" run sheet.csv --journal job.sqlite --no-progress --rate-limit "$rate" > run.out 2> run.err &
pid=$!
until [ "$(curl -s "$BASE/_emulator/customers" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["customers"]))')" -ge 5 ]; do
    sleep 0.05
done
t0=$(date +%s.%N)
kill -s "$sig" "$pid"
set +e
wait "$pid"
code=$?
set -e
t1=$(date +%s.%N)
in_flight=$("$BIN" status --journal job.sqlite --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"]["in_flight"])')
python3 -c "print(f'SIG$sig at $rate, {int($latency)} ms per create: exit $code after {$t1 - $t0:.2f} s, {$in_flight} row(s) in flight (target: exit 4 within 3 s, 0 in flight)')"
tail -1 run.out
