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
source benches/lib.sh
work=$(mktemp -d)
trap 'stop_emulator; rm -rf "$work"' EXIT
echo "successful creates: $(wrk_creates "$work" "$seconds" "$connections")/s over $seconds s, $connections connections (target >= 5000/s)"
