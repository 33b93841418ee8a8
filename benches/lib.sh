# Shared by the shell benchmarks: a sheet generator and an emulator-backed job environment.
# Source it after `cd` to the project root; it builds the release binary.

cargo build --release --quiet
BIN=$PWD/target/release/csp-onboard

# make_sheet FILE ROWS PREFIX: ROWS valid US customers with domains PREFIX000000...
make_sheet() {
    python3 - "$1" "$2" "$3" <<'PY'
import csv, sys
path, rows, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
header = ["domain","company_name","email","first_name","last_name","address_line1","city","state","postal_code","country","associated_partner_id"]
with open(path, "w", newline="") as f:
    w = csv.writer(f); w.writerow(header)
    for i in range(rows):
        w.writerow([f"{prefix}{i:07d}", f"Bench {i}", f"a{i}@bench.com", "Gena", "Soto", "1 Way", "Redmond", "WA", "98052", "US", "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01"])
PY
}

# start_emulator WORKDIR [EMULATOR FLAGS...]: starts the emulator, sets BASE and EMULATOR_PID, and
# exports the CSP_ONBOARD_* environment (with a fresh key pair) for a job run in WORKDIR.
start_emulator() {
    local work=$1; shift
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$BIN" emulator --port "$port" "$@" > "$work/emu.out" 2>/dev/null &
    EMULATOR_PID=$!
    for _ in $(seq 50); do grep -q "refresh token" "$work/emu.out" && break; sleep 0.1; done
    BASE="http://127.0.0.1:$port"
    "$BIN" keygen --out "$work/key.txt" > "$work/recipient" 2>/dev/null
    export CSP_ONBOARD_API_URL=$BASE CSP_ONBOARD_AUTHORITY_URL=$BASE CSP_ONBOARD_CLIENT_ID=bench
    CSP_ONBOARD_TENANT_ID=$(sed -n 's/^partner tenant: //p' "$work/emu.out")
    CSP_ONBOARD_REFRESH_TOKEN=$(sed -n 's/^refresh token: //p' "$work/emu.out")
    CSP_ONBOARD_RECIPIENT=$(cat "$work/recipient")
    export CSP_ONBOARD_TENANT_ID CSP_ONBOARD_REFRESH_TOKEN CSP_ONBOARD_RECIPIENT
    export CSP_ONBOARD_TOKEN_CACHE=$work/tokens.json XDG_CONFIG_HOME=$work
}
