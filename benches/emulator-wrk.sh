#!/usr/bin/env bash
# Successful creates per second the emulator serves, throttling and latency off, measured with
# wrk (installed here if missing; CI does not run this). Every request creates a new domain, so
# the figure counts real 201s, not fast "domain taken" errors: the script reads the number of
# customers the emulator holds afterwards.
#
#   benches/emulator-wrk.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet
bin=target/release/csp-onboard

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(mktemp)
"$bin" emulator --port "$port" --rate-limit off > "$out" 2>/dev/null &
emulator=$!
trap 'kill $emulator 2>/dev/null; rm -f "$out" "$lua"' EXIT
for _ in $(seq 50); do grep -q "refresh token" "$out" && break; sleep 0.1; done
base="http://127.0.0.1:$port"
tenant=$(sed -n 's/^partner tenant: //p' "$out")
refresh=$(sed -n 's/^refresh token: //p' "$out")
token=$(curl -s -X POST "$base/$tenant/oauth2/v2.0/token" \
    -d grant_type=refresh_token -d client_id=bench -d "refresh_token=$refresh" \
    --data-urlencode "scope=https://api.partnercenter.microsoft.com/user_impersonation offline_access" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

lua=$(mktemp --suffix=.lua)
cat > "$lua" <<LUA
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

wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$lua" "$base" | tee /dev/stderr > /dev/null
created=$(curl -s "$base/_emulator/customers" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["customers"]))')
python3 -c "print(f'successful creates: $created in ${seconds} s = {$created/$seconds:.0f}/s (target >= 5000/s)')"
