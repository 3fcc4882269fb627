#!/usr/bin/env bash
# Every store benchmark of docs/performance.md in one sequence: PostgreSQL (127.0.0.1:5432,
# trust auth), InMemoryStore and SQLite; first load, unchanged and 5%-changed re-syncs; the
# row-at-a-time baselines; 10k/50k/100k fleets for the peak-RSS columns. One line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example store_bench --features testkit,postgres
cargo build --release --example store_bench_sqlite --features sqlite,testkit
B=target/release/examples/store_bench
S=target/release/examples/store_bench_sqlite
SCENARIOS="first-load unchanged changed-5pct"
echo "## $(date -u) $(uptime)"
echo "## postgres 100k (twice)"
for _ in 1 2; do for s in $SCENARIOS; do $B --store postgres --devices 100000 --scenario "$s" | tail -1; done; done
echo "## postgres 10k, 50k"
for n in 10000 50000; do for s in $SCENARIOS; do $B --store postgres --devices "$n" --scenario "$s" | tail -1; done; done
echo "## postgres 100k without TLS"
for s in $SCENARIOS; do
  $B --store postgres --devices 100000 --scenario "$s" \
     --url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' | tail -1
done
echo "## postgres row-at-a-time baseline 10k"
for s in $SCENARIOS; do $B --store postgres --baseline --devices 10000 --scenario "$s" | tail -1; done
echo "## memory 100k"
for s in $SCENARIOS; do $B --store memory --devices 100000 --scenario "$s" | tail -1; done
echo "## sqlite 100k, then 10k, 50k"
for n in 100000 10000 50000; do for s in $SCENARIOS; do $S --devices "$n" --scenario "$s" | tail -1; done; done
echo "## sqlite row-at-a-time baseline 100k"
for s in $SCENARIOS; do $S --devices 100000 --scenario "$s" --baseline | tail -1; done
echo "## done $(date -u)"
