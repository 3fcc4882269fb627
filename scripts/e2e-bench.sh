#!/usr/bin/env bash
# End-to-end benchmark: `rmm-sync simulate` as its own process → the real `rmm-sync sync` CLI →
# SQLite or PostgreSQL. Per provider, store and fleet size it times four phases:
#   first      full sync into an empty store
#   unchanged  full sync, nothing changed
#   changed5   5% of the devices changed over the control API, then a full sync
#   incr       1% changed, then `sync --incremental`
# and prints one table row per phase: devices/s (devices the run saw / wall seconds of the CLI
# process), the CLI's peak RSS (from /usr/bin/time -v), and the simulator's peak RSS (VmHWM) and
# CPU seconds spent during the phase (utime+stime delta), so a slow simulator shows up as such.
#
# Environment (all optional):
#   PROVIDERS="tanium tacticalrmm"   STORES="sqlite postgres"   SIZES="10000 50000 100000"
#   PG_URL=postgres://postgres@127.0.0.1:5432   (trust auth; a scratch database per run)
#   OUT=file   also append the table to this file
#   RMM_SYNC_BIN=path   run this prebuilt binary instead of building the tree (A/B comparisons)
#   VIAS="direct temporal"   also run every phase as `sync --via temporal`: one `rmm-sync
#       temporal worker` process executes it (Temporal dev server at 127.0.0.1:7233, or
#       RMM_SYNC_TEMPORAL_ADDRESS); its CPU, MiB written and peak RSS fill the "CLI" columns
#       then (the `sync` process only waits). Each via gets its own fresh store and simulator
#       (same seed, same fleet).
# The CLI's CPU seconds (user + system, from /usr/bin/time) and the MiB it wrote (wchar from
# /proc/<pid>/io) are printed too: they move much less with the machine's load than the wall
# time does.
set -euo pipefail

PROVIDERS=${PROVIDERS:-"tanium tacticalrmm"}
STORES=${STORES:-"sqlite postgres"}
SIZES=${SIZES:-"10000 50000 100000"}
PG_URL=${PG_URL:-"postgres://postgres@127.0.0.1:5432"}
OUT=${OUT:-}
VIAS=${VIAS:-direct}
TEMPORAL_ADDRESS=${RMM_SYNC_TEMPORAL_ADDRESS:-127.0.0.1:7233}

cd "$(dirname "$0")/.."

if [[ ! -x /usr/bin/time ]]; then
    echo "error: /usr/bin/time (GNU time) is needed for the CLI's peak RSS; install it with: apt-get install -y time" >&2
    exit 2
fi
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done
if [[ " $STORES " == *" postgres "* ]] && ! command -v psql >/dev/null; then
    echo "error: psql is needed for the postgres store (or set STORES=sqlite)" >&2
    exit 2
fi

if [[ -n "${RMM_SYNC_BIN:-}" ]]; then
    BIN=$RMM_SYNC_BIN # a prebuilt binary (A/B runs of two builds); no cargo build
else
    features=cli
    [[ " $VIAS " == *" temporal "* ]] && features=cli,temporal
    cargo build --release --features "$features" --bin rmm-sync >&2
    BIN="${CARGO_TARGET_DIR:-target}/release/rmm-sync"
fi

WORK=$(mktemp -d)
SIM_PID=""
WORKER_PID=""
PG_DB=""
export RMM_SYNC_SIM_TOKEN="bench-$RANDOM-$RANDOM"
# shellcheck source=lib/proc.sh
source "scripts/lib/proc.sh"

# Runs a command and saves the /proc/<pid>/io of its process after it exited (waitid with
# WNOWAIT: the zombie is read before it is reaped). The command is /usr/bin/time, whose counters
# include the CLI's once it has reaped it. wchar = bytes the CLI passed to write(2) and
# friends (the SQLite WAL and database writes; not PostgreSQL's, which the server does).
cat >"$WORK/io.py" <<'PY'
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
with open(f"/proc/{p.pid}/io") as f:
    io = f.read()
rc = p.wait()
with open(sys.argv[1], "w") as f:
    f.write(io)
sys.exit(rc)
PY

cleanup() {
    if [[ -n "$WORKER_PID" ]]; then
        kill -TERM "$WORKER_PID" 2>/dev/null || true
        wait "$WORKER_PID" 2>/dev/null || true
    fi
    if [[ -n "$SIM_PID" ]]; then
        kill -TERM "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sim_cpu() { proc_cpu "$SIM_PID"; }
sim_hwm() { proc_hwm "$SIM_PID"; }

start_worker() {
    "$BIN" -q --config "$WORK/bench.toml" temporal worker >"$WORK/worker.out" 2>"$WORK/worker.err" &
    WORKER_PID=$!
    sleep 1
    kill -0 "$WORKER_PID" 2>/dev/null || { echo "error: the worker exited:" >&2; cat "$WORK/worker.err" >&2; exit 1; }
}

# SIGTERM to process $1 (named $2, its stderr in file $3); it must exit 0.
stop_process() {
    kill -TERM "$1"
    local status=0
    wait "$1" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "error: the $2 exited with $status on SIGTERM:" >&2
        cat "$3" >&2
        exit 1
    fi
}

stop_worker() { stop_process "$WORKER_PID" worker "$WORK/worker.err"; WORKER_PID=""; }

start_sim() {
    local provider=$1 n=$2
    rm -f "$WORK/port"
    "$BIN" -q simulate "$provider" --devices "$n" --port-file "$WORK/port" --seed 2026 \
        >"$WORK/sim.out" 2>"$WORK/sim.err" &
    SIM_PID=$!
    for _ in $(seq 1200); do
        [[ -s "$WORK/port" ]] && break
        if ! kill -0 "$SIM_PID" 2>/dev/null; then
            echo "error: the simulator exited:" >&2
            cat "$WORK/sim.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    [[ -s "$WORK/port" ]] || { echo "error: the simulator wrote no port file in 120 s" >&2; exit 1; }
    SIM_URL="http://127.0.0.1:$(cat "$WORK/port")"
}

stop_sim() { stop_process "$SIM_PID" simulator "$WORK/sim.err"; SIM_PID=""; }

mutate() {
    curl -sf -X POST -H 'content-type: application/json' -d "{\"change\": $1}" \
        "$SIM_URL/_sim/mutate" >/dev/null
}

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$@")"); echo "${ROWS[-1]}" >&2; }

# One timed CLI run: `phase`, then the sync arguments.
timed_sync() {
    local phase=$1
    shift
    local cpu0 cpu1 t0 t1 wcpu0="" wio0=""
    if [[ "$VIA" == temporal ]]; then
        set -- "$@" --via temporal
        wcpu0=$(proc_cpu "$WORKER_PID")
        wio0=$(proc_wchar "$WORKER_PID")
    fi
    cpu0=$(sim_cpu)
    t0=$(date +%s.%N)
    python3 "$WORK/io.py" "$WORK/io.txt" \
        /usr/bin/time -v -o "$WORK/time.txt" "$BIN" --config "$WORK/bench.toml" --json sync "$@" \
        >"$WORK/report.json" 2>"$WORK/cli.err" || {
        echo "error: rmm-sync sync $* failed:" >&2
        cat "$WORK/cli.err" "$WORK/report.json" >&2
        exit 1
    }
    t1=$(date +%s.%N)
    cpu1=$(sim_cpu)
    local seen status rss
    read -r seen status < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print(r["counts"]["seen"], r["status"])' "$WORK/report.json")
    [[ "$status" == "completed" ]] || { echo "error: run status $status" >&2; cat "$WORK/report.json" >&2; exit 1; }
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/time.txt")
    local clicpu
    clicpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$WORK/time.txt")
    local written
    written=$(awk '/^wchar:/ { printf "%.0f", $2 / 1048576 }' "$WORK/io.txt")
    if [[ "$VIA" == temporal ]]; then
        # The worker did the work: its CPU and writes during the phase, its peak RSS so far.
        clicpu=$(awk -v a="$wcpu0" -v b="$(proc_cpu "$WORKER_PID")" 'BEGIN { printf "%.2f", b - a }')
        written=$(awk -v a="$wio0" -v b="$(proc_wchar "$WORKER_PID")" 'BEGIN { printf "%.0f", (b - a) / 1048576 }')
        rss=$(proc_hwm "$WORKER_PID")
    fi
    local wall rate simcpu
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    rate=$(awk -v n="$seen" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
    simcpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
    row "$PROVIDER" "$STORE" "$N" "$VIA" "$phase" "$seen" "$wall" "$rate" "$clicpu" "$written" "$rss" "$(sim_hwm) / $simcpu"
}

HEADER="| provider | store | N | via | phase | devices | wall s | devices/s | CLI (or worker) CPU s | CLI (or worker) MiB written | CLI (or worker) peak RSS MiB | simulator peak RSS MiB / CPU s |"
RULE="|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "$HEADER" >&2
echo "$RULE" >&2
for PROVIDER in $PROVIDERS; do
    for STORE in $STORES; do
        for N in $SIZES; do
          for VIA in $VIAS; do
            case "$STORE" in
                sqlite)
                    rm -f "$WORK"/bench.db*
                    STORE_URL="sqlite://$WORK/bench.db"
                    ;;
                postgres)
                    PG_DB="rmm_e2e_$$_${N}"
                    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
                    psql "$PG_URL/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
                    STORE_URL="$PG_URL/$PG_DB"
                    ;;
                *) echo "error: unknown store $STORE" >&2; exit 2 ;;
            esac
            start_sim "$PROVIDER" "$N"
            cat >"$WORK/bench.toml" <<EOF
store = "$STORE_URL"

[[integrations]]
id = "bench"
provider = "$PROVIDER"
url = "$SIM_URL"
token_env = "RMM_SYNC_SIM_TOKEN"

[temporal]
address = "$TEMPORAL_ADDRESS"
task_queue = "rmm-sync-bench-$$-$N"
EOF
            if [[ "$VIA" == temporal ]]; then start_worker; fi
            "$BIN" -q --config "$WORK/bench.toml" scopes sync
            "$BIN" -q --config "$WORK/bench.toml" scopes map --integration bench --auto
            timed_sync first --full
            timed_sync unchanged --full
            mutate $((N * 5 / 100))
            timed_sync changed5 --full
            mutate $((N / 100))
            timed_sync incr --incremental
            if [[ "$VIA" == temporal ]]; then stop_worker; fi
            stop_sim
            if [[ -n "$PG_DB" ]]; then
                psql "$PG_URL/postgres" -qc "DROP DATABASE $PG_DB" >/dev/null
                PG_DB=""
            fi
          done
        done
    done
done

{
    echo "$HEADER"
    echo "$RULE"
    printf '%s\n' "${ROWS[@]}"
} | tee ${OUT:+-a "$OUT"}
