#!/usr/bin/env bash
# Two integrations through Temporal: are they processed in parallel, and do two workers share
# the work? Two `rmm-sync simulate tanium` processes (one per integration, N devices each) →
# `rmm-sync sync --via temporal` → PostgreSQL, a fresh database per case. Cases:
#   alone        one integration, one worker (the reference)
#   both-1w      both integrations at once (two `sync` processes), one worker
#   both-2w      both integrations at once, two workers on the task queue
# Each case is a first load (full sync into an empty store). Prints per case the wall seconds
# until both runs finished, devices/s over both, each worker's CPU seconds and peak RSS, and the
# simulators' CPU seconds (so a saturated simulator shows up as such), and the assets the store
# holds afterwards, which must equal the devices seen.
#
# Environment (all optional):
#   N=50000   devices per integration
#   PG_URL=postgres://postgres@127.0.0.1:5432   (trust auth)
#   RMM_SYNC_TEMPORAL_ADDRESS=127.0.0.1:7233    a running Temporal server
#   RMM_SYNC_BIN=path   a prebuilt binary (built with cli,temporal) instead of building
#   OUT=file   also append the table to this file
set -euo pipefail

N=${N:-50000}
PG_URL=${PG_URL:-"postgres://postgres@127.0.0.1:5432"}
TEMPORAL_ADDRESS=${RMM_SYNC_TEMPORAL_ADDRESS:-127.0.0.1:7233}
OUT=${OUT:-}

cd "$(dirname "$0")/.."
for tool in psql python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done
if ! (exec 3<>"/dev/tcp/${TEMPORAL_ADDRESS%:*}/${TEMPORAL_ADDRESS##*:}") 2>/dev/null; then
    echo "error: no Temporal server at $TEMPORAL_ADDRESS (see docs/temporal.md#a-dev-server)" >&2
    exit 2
fi
if [[ -n "${RMM_SYNC_BIN:-}" ]]; then
    BIN=$RMM_SYNC_BIN
else
    cargo build --release --features cli,temporal --bin rmm-sync >&2
    BIN="${CARGO_TARGET_DIR:-target}/release/rmm-sync"
fi

WORK=$(mktemp -d)
PIDS=()
PG_DB=""
export RMM_SYNC_SIM_TOKEN="bench-$RANDOM-$RANDOM"
# shellcheck source=lib/proc.sh
source "scripts/lib/proc.sh"

cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a simulator for integration $1; sets SIM_PID_$1 and SIM_URL_$1.
start_sim() {
    local name=$1 port_file="$WORK/$1.port"
    rm -f "$port_file"
    "$BIN" -q simulate tanium --devices "$N" --port-file "$port_file" --seed 2026 \
        >"$WORK/$name-sim.out" 2>"$WORK/$name-sim.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1200); do
        [[ -s "$port_file" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name-sim.err" >&2; exit 1; }
        sleep 0.1
    done
    [[ -s "$port_file" ]] || { echo "error: simulator $name wrote no port file" >&2; exit 1; }
    printf -v "SIM_PID_$name" '%s' "$pid"
    printf -v "SIM_URL_$name" '%s' "http://127.0.0.1:$(cat "$port_file")"
}

start_sim a
start_sim b

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$@")"); echo "${ROWS[-1]}" >&2; }

# One case: $1 name, $2 workers, then the integrations to sync at once.
run_case() {
    local name=$1 workers=$2
    shift 2
    PG_DB="rmm_workers_$$_$name"
    PG_DB=${PG_DB//-/_}
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    psql "$PG_URL/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    cat >"$WORK/bench.toml" <<EOF
store = "$PG_URL/$PG_DB"

[[integrations]]
id = "a"
provider = "tanium"
url = "$SIM_URL_a"
token_env = "RMM_SYNC_SIM_TOKEN"

[[integrations]]
id = "b"
provider = "tanium"
url = "$SIM_URL_b"
token_env = "RMM_SYNC_SIM_TOKEN"

[temporal]
address = "$TEMPORAL_ADDRESS"
task_queue = "rmm-sync-workers-bench-$$-$name"
EOF
    "$BIN" -q --config "$WORK/bench.toml" scopes sync
    for i in "$@"; do "$BIN" -q --config "$WORK/bench.toml" scopes map --integration "$i" --auto; done
    local wpids=()
    for w in $(seq "$workers"); do
        "$BIN" -q --config "$WORK/bench.toml" temporal worker >"$WORK/worker$w.out" 2>"$WORK/worker$w.err" &
        wpids+=("$!")
        PIDS+=("$!")
    done
    sleep 1
    local sim_cpu0
    sim_cpu0=$(awk -v a="$(proc_cpu "$SIM_PID_a")" -v b="$(proc_cpu "$SIM_PID_b")" 'BEGIN { print a + b }')
    local t0 t1 spids=()
    t0=$(date +%s.%N)
    for i in "$@"; do
        "$BIN" --config "$WORK/bench.toml" --json sync --full --via temporal --integration "$i" \
            >"$WORK/$i.json" 2>"$WORK/$i.err" &
        spids+=("$!")
    done
    for pid in "${spids[@]}"; do
        wait "$pid" || { echo "error: a sync failed:" >&2; cat "$WORK"/*.err "$WORK"/*.json >&2; exit 1; }
    done
    t1=$(date +%s.%N)
    local seen=0
    for i in "$@"; do
        local s status
        read -r s status < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print(r["counts"]["seen"], r["status"])' "$WORK/$i.json")
        [[ "$status" == completed ]] || { echo "error: $i ended $status" >&2; cat "$WORK/$i.json" >&2; exit 1; }
        seen=$((seen + s))
    done
    local wall rate workers_cpu="" workers_rss="" sim_cpu
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    rate=$(awk -v n="$seen" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
    for pid in "${wpids[@]}"; do
        workers_cpu+="${workers_cpu:+ + }$(proc_cpu "$pid")"
        workers_rss+="${workers_rss:+ + }$(proc_hwm "$pid")"
    done
    sim_cpu=$(awk -v a="$sim_cpu0" -v b="$(proc_cpu "$SIM_PID_a")" -v c="$(proc_cpu "$SIM_PID_b")" 'BEGIN { printf "%.2f", b + c - a }')
    # Counted, not trusted: one asset per device, nothing lost or doubled.
    local stored
    stored=$(psql "$PG_URL/$PG_DB" -tAc "SELECT count(*) FROM assets")
    [[ "$stored" == "$seen" ]] || { echo "error: $stored assets stored for $seen devices seen" >&2; exit 1; }
    row "$name" "$workers" "$seen" "$stored" "$wall" "$rate" "$workers_cpu" "$workers_rss" "$sim_cpu"
    for pid in "${wpids[@]}"; do
        kill -TERM "$pid"
        wait "$pid" || { echo "error: a worker exited non-zero on SIGTERM:" >&2; cat "$WORK"/worker*.err >&2; exit 1; }
    done
    psql "$PG_URL/postgres" -qc "DROP DATABASE $PG_DB" >/dev/null
    PG_DB=""
}

HEADER="| case ($N devices per integration) | workers | devices | assets stored | wall s | devices/s | worker CPU s (each) | worker peak RSS MiB (each) | simulators CPU s |"
RULE="|---|---|---|---|---|---|---|---|---|"
echo "$HEADER" >&2
echo "$RULE" >&2
run_case alone 1 a
run_case both-1w 1 a b
run_case both-2w 2 a b
{
    echo "$HEADER"
    echo "$RULE"
    printf '%s\n' "${ROWS[@]}"
} | tee ${OUT:+-a "$OUT"}
