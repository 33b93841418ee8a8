# Shared by the shell benchmarks: a sheet generator and an emulator-backed job environment.
# Source it after `cd` to the project root; it builds the release binary, unless BIN names one
# (BIN=/tmp/csp-onboard benches/rate.sh: measure a copy while the tree changes).

if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release/csp-onboard
fi

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
    rm -f "$work/key.txt"
    "$BIN" keygen --out "$work/key.txt" > "$work/recipient" 2>/dev/null
    export CSP_ONBOARD_API_URL=$BASE CSP_ONBOARD_AUTHORITY_URL=$BASE CSP_ONBOARD_CLIENT_ID=bench
    CSP_ONBOARD_TENANT_ID=$(sed -n 's/^partner tenant: //p' "$work/emu.out")
    CSP_ONBOARD_REFRESH_TOKEN=$(sed -n 's/^refresh token: //p' "$work/emu.out")
    CSP_ONBOARD_RECIPIENT=$(cat "$work/recipient")
    export CSP_ONBOARD_TENANT_ID CSP_ONBOARD_REFRESH_TOKEN CSP_ONBOARD_RECIPIENT
    export CSP_ONBOARD_TOKEN_CACHE=$work/tokens.json XDG_CONFIG_HOME=$work
}

# stop_emulator: stops the emulator start_emulator started.
stop_emulator() {
    kill "${EMULATOR_PID:-}" 2>/dev/null || true
    wait "${EMULATOR_PID:-}" 2>/dev/null || true
    EMULATOR_PID=
}

# wrk_creates WORKDIR SECONDS CONNECTIONS: the successful creates per second wrk gets from a fresh
# emulator (throttling and latency off). Every request creates a new domain, so the figure counts
# real 201s, not fast "domain taken" errors: it is read from the emulator's customer list afterwards.
wrk_creates() {
    local work=$1 seconds=$2 connections=$3
    command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >&2
    start_emulator "$work" --rate-limit off
    local token
    # The refresh token goes to curl on stdin, never in its argv.
    token=$(printf 'refresh_token=%s' "$CSP_ONBOARD_REFRESH_TOKEN" \
        | curl -s -X POST "$BASE/$CSP_ONBOARD_TENANT_ID/oauth2/v2.0/token" \
        -d grant_type=refresh_token -d client_id=bench -d @- \
        --data-urlencode "scope=https://api.partnercenter.microsoft.com/user_impersonation offline_access" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    cat > "$work/creates.lua" <<LUA
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function request()
  counter = counter + 1
  local body = string.format('{"companyProfile":{"domain":"wrk%dn%d.onmicrosoft.com"},"billingProfile":{"email":"a@b.com","culture":"en-US","language":"en","companyName":"Bench","defaultAddress":{"firstName":"A","lastName":"B","addressLine1":"1 Way","city":"Redmond","state":"WA","postalCode":"98052","country":"US"}},"associatedPartnerId":"5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01"}', thread_id, counter)
  return wrk.format("POST", "/v1/customers", {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json", ["MS-RequestId"] = string.format("%d-%d", thread_id, counter)}, body)
end
LUA
    wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/creates.lua" "$BASE" > "$work/wrk.out"
    local created
    created=$(curl -s "$BASE/_emulator/customers" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["customers"]))')
    stop_emulator
    python3 -c "print(round($created / $seconds))"
}

# dispatch_creates WORKDIR SHEET [RUN FLAGS...]: creates per second of `csp-onboard run
# --rate-limit off` with SHEET against a fresh emulator (throttling and latency off), from the
# emulator's log: first to last create. Journal durable, credentials sealed.
dispatch_creates() {
    local work=$1 sheet=$2; shift 2
    start_emulator "$work" --rate-limit off
    rm -f "$work"/job.sqlite*
    (cd "$work" && "$BIN" run "$sheet" --journal job.sqlite --rate-limit off --no-progress "$@" > run.out 2> run.err) \
        || { cat "$work/run.err" >&2; return 1; }
    curl -s "$BASE/_emulator/log" > "$work/log.json"
    stop_emulator
    python3 - "$work/log.json" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
creates = sorted(e["t"] for e in log if e["path"] == "/v1/customers" and e["status"] == 201)
print(round((len(creates) - 1) / (creates[-1] - creates[0])))
PY
}

# rate_report LOG EXPECTED LABEL TARGET_PERCENT: what the emulator's log (LOG, from
# /_emulator/log) says of the rate promises at 500/min — creates admitted first to last, 429s, the
# busiest 60 s window of requests to /v1/customers.
rate_report() {
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
log = [e for e in json.load(open(sys.argv[1])) if e["path"].startswith("/v1/customers")]
expected, label, target = int(sys.argv[2]), sys.argv[3], sys.argv[4]
times = sorted(e["t"] for e in log)
creates = sorted(e["t"] for e in log if e["status"] == 201)
throttled = sum(1 for e in log if e["status"] == 429)
busiest, j = 0, 0
for i, t in enumerate(times):
    while j < len(times) and times[j] < t + 60: j += 1
    busiest = max(busiest, j - i)
span = creates[-1] - creates[0]
rate = (len(creates) - 1) / span * 60
print(f"{label}: {len(creates)}/{expected} created in {span:.1f} s: {rate:.1f} creates/min = {rate/5:.2f}% of 500/min (target >= {target}%)")
print(f"429s: {throttled} (target 0); most requests in any 60 s window: {busiest} (target <= 500)")
PY
}
