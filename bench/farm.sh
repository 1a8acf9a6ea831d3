#!/usr/bin/env bash
# The farm workload of bench/run.sh (README, "Farms"): bitspec-server with
# `storage = "postgres"` on one PostgreSQL, on this machine.
#   local  one node, local storage (the default server): the reference
#   pg1    one node, storage = "postgres"
#   pg2    two nodes on the same database and shared root, the sessions split
#          between them (two `bitspec bench` at once; bytes of both over the
#          longer of the two runs)
# for two workloads: (f) 32 sessions x 8 MiB in 256 KiB fragments (throughput),
# (g) 32 sessions x 1 MiB in 16 KiB fragments (2,048 fragments: what the database
# costs per fragment = (seconds pg1 - seconds local) / fragments, with 32 sessions
# in flight, so it is wall time per fragment at that concurrency, not latency).
# Best of BENCH_FARM_REPEAT runs (default 3), interleaved. Prints MB/s and ratios.
#
# PostgreSQL: BITSPEC_POSTGRES_URL (a database is created on it and dropped), or a
# throwaway cluster (Debian's postgresql: initdb, pg_ctl) in the work directory,
# on 127.0.0.1, run as the `postgres` user when this runs as root.
#
# Usage: bench/farm.sh   (bench/run.sh runs it last; BENCH_DIR picks the folder)
# Bounds: at most ~300 MiB on disk, a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${BENCH_FARM_REPEAT:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${BENCH_BIN:-$TARGET_DIR/release}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    echo "building (release)..." >&2
    cargo build --release --quiet -p bitspec -p bitspec-server
fi

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bitspec-farm-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
PG_STOP=
DB_DROP=
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    if [ -n "$DB_DROP" ]; then eval "$DB_DROP" >/dev/null 2>&1 || true; fi
    if [ -n "$PG_STOP" ]; then eval "$PG_STOP" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

pg_bin() {
    local dir
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    return 1
}

# Sets PG_URL: a fresh database.
start_postgres() {
    local bin psql
    bin=$(pg_bin) || { echo "error: PostgreSQL not found (apt-get install -y postgresql)" >&2; exit 1; }
    psql="$bin/psql"; [ -x "$psql" ] || psql=psql
    PSQL=$psql
    if [ -n "${BITSPEC_POSTGRES_URL:-}" ]; then
        local name="bitspec_bench_$$"
        "$psql" -X -q -d "$BITSPEC_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
        DB_DROP="'$psql' -X -q -d '$BITSPEC_POSTGRES_URL' -c 'DROP DATABASE IF EXISTS $name'"
        PG_URL=$(echo "$BITSPEC_POSTGRES_URL" | sed -E "s#/[^/?]*(\\?|\$)#/$name\\1#")
        return
    fi
    local as=() port
    mkdir -p "$WORK/pg"
    if [ "$(id -u)" -eq 0 ]; then
        local user=postgres
        id "$user" >/dev/null 2>&1 || user=nobody
        chown "$user" "$WORK/pg"
        as=(runuser -u "$user" --)
    fi
    "${as[@]}" "$bin/initdb" -D "$WORK/pg/data" -U bitspec --auth=trust -E UTF8 >"$WORK/pg.log" 2>&1
    for _ in $(seq 20); do
        port=$((20000 + RANDOM % 40000))
        if "${as[@]}" "$bin/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w \
            -o "-p $port -k $WORK/pg -c listen_addresses=127.0.0.1" start >>"$WORK/pg.log" 2>&1; then
            PG_STOP="${as[*]} '$bin/pg_ctl' -D '$WORK/pg/data' -m fast -w stop"
            PG_URL="postgresql://bitspec@127.0.0.1:$port/postgres"
            return
        fi
    done
    echo "error: PostgreSQL did not start:" >&2; cat "$WORK/pg.log" >&2; exit 1
}

# node STORAGE ROOT: starts a node; appends its URL to URLS.
node() {
    local out="$WORK/node-${#PIDS[@]}.out"
    # The redirection below happens in the background child: no stale URL may be read.
    rm -f "$out"
    local args=(--listen 127.0.0.1:0 --root "$2" --max-connections-per-address 0
        --max-sessions-per-address 0 --session-limit-enable false)
    if [ "$1" = postgres ]; then
        printf 'storage = "postgres"\npostgres_url = "%s"\nnode_name = "node-%s"\n' \
            "$PG_URL" "${#PIDS[@]}" >"$WORK/node-${#PIDS[@]}.toml"
        args+=(--config "$WORK/node-${#PIDS[@]}.toml")
    fi
    "$BIN/bitspec-server" "${args[@]}" >"$out" 2>"$out.log" &
    PIDS+=($!)
    local url=
    for _ in $(seq 200); do
        url=$(grep -o 'http://[^ ]*' "$out" 2>/dev/null || true)
        [ -n "$url" ] && { URLS+=("$url"); return 0; }
        sleep 0.05
    done
    echo "error: a node did not start:" >&2; cat "$out.log" >&2; exit 1
}

stop_nodes() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
    rm -rf "$WORK/store"
}

field() { sed -n "s/^  \"$1\": \\([0-9.e+-]*\\),\$/\\1/p" "$2"; }

# measure KIND SESSIONS SIZE FRAGMENT: sets SECONDS_USED (longest bench) and BYTES (all).
measure() {
    URLS=()
    case $1 in
        local) node local "$WORK/store" ;;
        pg1) node postgres "$WORK/store" ;;
        pg2) node postgres "$WORK/store"; node postgres "$WORK/store" ;;
    esac
    local n=${#URLS[@]} i pids=()
    for i in $(seq 0 $((n - 1))); do
        "$BIN/bitspec" bench --target "${URLS[$i]}" --sessions $(($2 / n)) --size "$3" \
            --fragment "$4" --json >"$WORK/r$i.json" 2>"$WORK/r$i.err" &
        pids+=($!)
    done
    local status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
    stop_nodes
    # Every run starts on an empty session table, as it starts on an empty root.
    if [ "$1" != local ]; then "$PSQL" -X -q -d "$PG_URL" -c "TRUNCATE bitspec_sessions" >/dev/null; fi
    if [ "$status" -ne 0 ]; then cat "$WORK"/r*.err >&2; echo "error: bench failed ($1)" >&2; exit 1; fi
    SECONDS_USED=0; BYTES=0
    for i in $(seq 0 $((n - 1))); do
        SECONDS_USED=$(awk -v a="$SECONDS_USED" -v b="$(field seconds "$WORK/r$i.json")" 'BEGIN { print (b > a) ? b : a }')
        BYTES=$((BYTES + $(field bytes "$WORK/r$i.json")))
    done
}

row() {
    local name=$1 sessions=$2 size=$3 fragment=$4 fragments=$5
    local kind best_local= best_pg1= best_pg2= t_local= t_pg1=
    for rep in $(seq "$REPEAT"); do
        echo "  $name: run $rep of $REPEAT" >&2
        local order="local pg1 pg2"
        [ $((rep % 2)) -eq 0 ] && order="pg2 pg1 local"
        for kind in $order; do
            measure "$kind" "$sessions" "$size" "$fragment"
            local mbs
            mbs=$(awk -v b="$BYTES" -v s="$SECONDS_USED" 'BEGIN { print b / s / 1e6 }')
            case $kind in
                local) best_local=$(awk -v a="$best_local" -v b="$mbs" 'BEGIN { print (a == "" || b > a) ? b : a }')
                       t_local=$(awk -v a="$t_local" -v b="$SECONDS_USED" 'BEGIN { print (a == "" || b < a) ? b : a }') ;;
                pg1) best_pg1=$(awk -v a="$best_pg1" -v b="$mbs" 'BEGIN { print (a == "" || b > a) ? b : a }')
                     t_pg1=$(awk -v a="$t_pg1" -v b="$SECONDS_USED" 'BEGIN { print (a == "" || b < a) ? b : a }') ;;
                pg2) best_pg2=$(awk -v a="$best_pg2" -v b="$mbs" 'BEGIN { print (a == "" || b > a) ? b : a }') ;;
            esac
        done
    done
    awk -v n="$name" -v l="$best_local" -v p1="$best_pg1" -v p2="$best_pg2" \
        -v tl="$t_local" -v tp="$t_pg1" -v f="$fragments" 'BEGIN {
        printf "%-34s %8.0f %8.0f %8.0f   %6.1f%% %6.1f%% %6.1f%%   %8.3f\n",
            n, l, p1, p2, 100 * p2 / p1, 100 * p1 / l, 100 * p2 / l, 1000 * (tp - tl) / f }' \
        >>"$WORK/table"
}

echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)" >&2
start_postgres
echo "PostgreSQL: $("$(pg_bin)/postgres" --version 2>/dev/null || echo unknown)" >&2
: >"$WORK/table"
row "(f) 32 x 8 MiB, 256 KiB fragments" 32 8M 256K 1024
row "(g) 32 x 1 MiB, 16 KiB fragments" 32 1M 16K 2048

echo
echo "farm: bitspec-server with storage = \"postgres\" on one PostgreSQL, this machine;"
echo "MB/s = 10^6 bytes/s of acknowledged fragments, best of $REPEAT; pg2 = two nodes, sessions"
echo "split, bytes of both over the longer run; DB ms/fragment = (wall pg1 - wall local) /"
echo "fragments, 32 sessions in flight"
printf "%-34s %8s %8s %8s   %7s %7s %7s   %8s\n" workload local pg1 pg2 pg2/pg1 pg1/ pg2/ "DB ms /"
printf "%-34s %8s %8s %8s   %7s %7s %7s   %8s\n" "" MB/s MB/s MB/s "" local local fragment
cat "$WORK/table"
