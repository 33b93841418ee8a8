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
cargo build --release --quiet
bin=$PWD/target/release/csp-onboard
work=$(mktemp -d)
trap 'kill $emulator 2>/dev/null; rm -rf "$work"' EXIT

python3 - "$work/sheet.csv" "$rows" <<'PY'
import csv, sys
path, rows = sys.argv[1], int(sys.argv[2])
header = ["domain","company_name","email","first_name","last_name","address_line1","city","state","postal_code","country","associated_partner_id"]
with open(path, "w", newline="") as f:
    w = csv.writer(f); w.writerow(header)
    for i in range(rows):
        w.writerow([f"dispatchbench{i:07d}", f"Dispatch Bench {i}", f"a{i}@bench.com", "Gena", "Soto", "1 Way", "Redmond", "WA", "98052", "US", "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01"])
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" emulator --port "$port" --rate-limit off > "$work/emu.out" 2>/dev/null &
emulator=$!
for _ in $(seq 50); do grep -q "refresh token" "$work/emu.out" && break; sleep 0.1; done
base="http://127.0.0.1:$port"
"$bin" keygen --out "$work/key.txt" > "$work/recipient" 2>/dev/null
cd "$work"
CSP_ONBOARD_API_URL=$base CSP_ONBOARD_AUTHORITY_URL=$base \
CSP_ONBOARD_TENANT_ID=$(sed -n 's/^partner tenant: //p' emu.out) \
CSP_ONBOARD_CLIENT_ID=bench CSP_ONBOARD_REFRESH_TOKEN=$(sed -n 's/^refresh token: //p' emu.out) \
CSP_ONBOARD_RECIPIENT=$(cat recipient) CSP_ONBOARD_TOKEN_CACHE=$work/tokens.json XDG_CONFIG_HOME=$work \
    "$bin" run sheet.csv --journal job.sqlite --rate-limit off --no-progress | tail -1

curl -s "$base/_emulator/log" > log.json
python3 - log.json "$rows" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
creates = sorted(e["t"] for e in log if e["path"] == "/v1/customers" and e["status"] == 201)
span = creates[-1] - creates[0]
print(f"{len(creates)}/{sys.argv[2]} created in {span:.2f} s = {(len(creates)-1)/span:.0f} creates/s (journal durable, credentials sealed)")
PY
