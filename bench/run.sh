#!/usr/bin/env bash
# The benchmark behind the README's "Benchmarks" section. One run, one machine:
#   (a) 1 GiB in 1 MiB fragments, (b) 256 MiB in 64 KiB fragments,
#   (c) 1,000 concurrent sessions of 1 MiB each,
# each sent by `bitspec bench` to the reference server (release build, its own
# process, peak RSS from /proc/PID/status VmHWM), to the minimal sink that writes
# bodies to files (the ceiling), and to the sink with --discard (the client's own
# ceiling); plus a plain sequential write of the same bytes with dd, and the wall
# time of the whole conformance suite against the embedded server. Prints the
# figures and ratios. Every measure is the best of BENCH_REPEAT runs (default 5),
# interleaved, so noise from other work on the machine hurts all sides alike;
# the server/sink ratio is also given as the median of the per-run ratios.
# (d) `bitspec upload` of a 1 GiB file in 1 MiB fragments to the reference server, next to
# `bitspec bench --sessions 1` with the same size and fragments, interleaved, each against
# a freshly started server: the client's throughput as a ratio to the bench's.
#
# Usage: bench/run.sh            (BENCH_DIR=/path picks where files are written;
#                                 BENCH_WORKLOADS=d runs only (d), =abc the others)
# Bounds: at most ~2 GiB on disk at a time (the upload's source and its stored copy),
# removed as it goes; a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${BENCH_REPEAT:-5}
WORKLOADS=${BENCH_WORKLOADS:-abcd}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release"

echo "building (release)..." >&2
cargo build --release --quiet -p bitspec -p bitspec-server -p bitspec-bench-sink

# 1,000 sessions: 1,000 client sockets, 1,000 server sockets and open files.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bitspec-bench.XXXXXX")
PID=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# start KIND: starts the server, the sink or the discarding sink; sets PID and URL.
start() {
    rm -rf "$WORK/store" "$WORK/out"
    case $1 in
        # One client on 127.0.0.1 opens every connection and session: lift the
        # per-address bounds (their defaults are for many clients).
        server) "$BIN/bitspec-server" --listen 127.0.0.1:0 --root "$WORK/store" \
                    --max-connections-per-address 0 --max-sessions-per-address 0 \
                    --session-limit-enable false \
                    >"$WORK/out" 2>"$WORK/log" & ;;
        sink)   "$BIN/bitspec-bench-sink" --dir "$WORK/store" >"$WORK/out" 2>"$WORK/log" & ;;
        discard) "$BIN/bitspec-bench-sink" --discard >"$WORK/out" 2>"$WORK/log" & ;;
    esac
    PID=$!
    URL=
    for _ in $(seq 100); do
        URL=$(grep -o 'http://[^ ]*' "$WORK/out" 2>/dev/null || true)
        [ -n "$URL" ] && return 0
        sleep 0.05
    done
    echo "error: $1 did not start:" >&2; cat "$WORK/log" >&2; exit 1
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
    rm -rf "$WORK/store"
}

field() { sed -n "s/^  \"$1\": \\([0-9.e+-]*\\),\$/\\1/p" "$2"; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

# measure KIND SESSIONS SIZE FRAGMENT: one bench run; sets MBS, RSS_KB, ERRORS, P99.
measure() {
    start "$1"
    local status=0
    "$BIN/bitspec" bench --target "$URL" --sessions "$2" --size "$3" --fragment "$4" \
        --json >"$WORK/report.json" 2>"$WORK/bench.err" || status=$?
    RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
    # utime + stime of the receiver, in seconds (fields 14 and 15, clock ticks).
    CPU_S=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' \
        "/proc/$PID/stat")
    stop
    if [ "$status" -gt 1 ]; then cat "$WORK/bench.err" >&2; exit 1; fi
    MBS=$(field mb_per_s "$WORK/report.json")
    ERRORS=$(field errors "$WORK/report.json")
    P99=$(sed -n 's/^    "p99_ms": \([0-9.]*\),$/\1/p' "$WORK/report.json")
}

# dd_write SIZE BLOCK COUNT: MB/s of a plain sequential write of SIZE bytes.
dd_write() {
    local t0 t1
    t0=$(date +%s.%N)
    dd if=/dev/zero of="$WORK/dd.bin" bs="$2" count="$3" status=none
    t1=$(date +%s.%N)
    rm -f "$WORK/dd.bin"
    awk -v b="$1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / (t1 - t0) / 1e6 }'
}

row() {
    local name=$1 sessions=$2 size=$3 fragment=$4 bytes=$5 block=$6 count=$7
    local best_server= best_sink= best_discard= best_dd= rss_server= rss_sink= errors=0 p99=
    local cpu_server= cpu_sink=
    local pairs= server_mbs
    for rep in $(seq "$REPEAT"); do
        echo "  $name: run $rep of $REPEAT" >&2
        # Server first in odd runs, sink first in even ones: whatever the previous
        # run left to the kernel (writeback, freeing a 1 GiB file) falls on both.
        local order="server sink" kind sink_mbs
        [ $((rep % 2)) -eq 0 ] && order="sink server"
        for kind in $order; do
            measure "$kind" "$sessions" "$size" "$fragment"
            errors=$((errors + ERRORS))
            if [ "$kind" = server ]; then
                server_mbs=$MBS; p99=$(max "$p99" "$P99")
                best_server=$(max "$best_server" "$MBS"); rss_server=$(max "$rss_server" "$RSS_KB")
                cpu_server=$(min "$cpu_server" "$CPU_S")
            else
                sink_mbs=$MBS
                best_sink=$(max "$best_sink" "$MBS"); rss_sink=$(max "$rss_sink" "$RSS_KB")
                cpu_sink=$(min "$cpu_sink" "$CPU_S")
            fi
        done
        pairs="$pairs $(awk -v s="$server_mbs" -v k="$sink_mbs" 'BEGIN { print 100 * s / k }')"
        measure discard "$sessions" "$size" "$fragment"
        best_discard=$(max "$best_discard" "$MBS")
        errors=$((errors + ERRORS))
        best_dd=$(max "$best_dd" "$(dd_write "$bytes" "$block" "$count")")
    done
    # The median of the per-run ratios: each run's server and sink measures are
    # back to back, so it is the figure least moved by a noisy neighbour.
    local median
    median=$(printf '%s\n' $pairs | sort -n | awk '{ v[NR] = $1 } END {
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    awk -v n="$name" -v s="$best_server" -v k="$best_sink" -v d="$best_discard" -v w="$best_dd" \
        -v rs="$rss_server" -v rk="$rss_sink" -v e="$errors" -v p="$p99" -v m="$median" 'BEGIN {
        printf "%-30s %8.0f %8.0f %8.0f %8.0f  %6.1f%% %6.1f%%  %6.1f%% %6.1f%%  %6.1f %6.1f  %6.1f  %d\n",
            n, s, k, d, w, 100 * s / k, m, 100 * k / w, 100 * k / d, rs / 1024, rk / 1024, p, e }' \
        >>"$WORK/table"
    printf '%-30s %s\n' "$name" "$(printf '%.0f%% ' $pairs)" >>"$WORK/pairs"
    awk -v n="$name" -v s="$cpu_server" -v k="$cpu_sink" 'BEGIN {
        printf "%-30s %8.2f %8.2f  %6.1f%%\n", n, s, k, 100 * s / k }' >>"$WORK/cpu"
}

# upload_row: (d), `bitspec upload` of a 1 GiB file against `bitspec bench --sessions 1`
# with the same size and fragments, each against a fresh server, bench first in odd runs;
# upload MB/s is the file's size over the command's wall time (start to exit).
upload_row() {
    local bytes=$((1 << 30)) best_bench= best_upload= pairs= t0 t1 upload_mbs bench_mbs kind
    head -c "$bytes" /dev/urandom >"$WORK/source.bin"
    for rep in $(seq "$REPEAT"); do
        echo "  (d) upload: run $rep of $REPEAT" >&2
        local order="bench upload"
        [ $((rep % 2)) -eq 0 ] && order="upload bench"
        for kind in $order; do
            if [ "$kind" = bench ]; then
                measure server 1 1G 1M
                bench_mbs=$MBS
                best_bench=$(max "$best_bench" "$MBS")
                continue
            fi
            start server
            t0=$(date +%s.%N)
            "$BIN/bitspec" upload "$WORK/source.bin" "${URL}upload.bin" --fragment 1M --quiet \
                --state-dir "$WORK/state"
            t1=$(date +%s.%N)
            stop
            upload_mbs=$(awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN { print b / (t1 - t0) / 1e6 }')
            best_upload=$(max "$best_upload" "$upload_mbs")
        done
        pairs="$pairs $(awk -v u="$upload_mbs" -v b="$bench_mbs" 'BEGIN { print 100 * u / b }')"
    done
    rm -f "$WORK/source.bin"
    pairs=$(printf ' %.0f%%' $pairs)
    awk -v u="$best_upload" -v b="$best_bench" -v p="$pairs" 'BEGIN {
        printf "(d) bitspec upload, 1 GiB, 1 MiB fragments: upload %.0f MB/s, bench --sessions 1 %.0f MB/s, best/best %.1f%%; run by run:%s\n",
            u, b, 100 * u / b, p }' >"$WORK/upload"
}

echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)" >&2
: >"$WORK/table"
: >"$WORK/pairs"
: >"$WORK/cpu"
: >"$WORK/upload"
case $WORKLOADS in *a*) row "(a) 1 GiB, 1 MiB fragments" 1 1G 1M $((1 << 30)) 1M 1024 ;; esac
case $WORKLOADS in *b*) row "(b) 256 MiB, 64 KiB fragments" 1 256M 64K $((256 << 20)) 64K 4096 ;; esac
case $WORKLOADS in *c*) row "(c) 1000 x 1 MiB sessions" 1000 1M 1M $((1000 << 20)) 1M 1000 ;; esac
case $WORKLOADS in *d*) upload_row ;; esac
if [ "$WORKLOADS" = d ]; then
    echo
    cat "$WORK/upload"
    exit 0
fi

echo "  conformance suite against the embedded server" >&2
t0=$(date +%s.%N)
suite=0
"$BIN/bitspec" run --report-dir "$WORK/reports" >"$WORK/suite.out" 2>&1 || suite=$?
t1=$(date +%s.%N)

echo
echo "MB/s = 10^6 bytes/s, best of $REPEAT; server/sink: ratio of the bests, and median of the"
echo "$REPEAT per-run ratios (server and sink measured back to back); RSS = peak (VmHWM) of the"
echo "receiving process over all runs"
printf "%-30s %8s %8s %8s %8s  %7s %7s  %7s %7s  %6s %6s  %6s  %s\n" workload server sink discard dd \
    server/ server/ sink/ sink/ "RSS" "RSS" "p99" errors
printf "%-30s %8s %8s %8s %8s  %7s %7s  %7s %7s  %6s %6s  %6s  %s\n" "" MB/s MB/s MB/s MB/s \
    sink sink dd discard "server" "sink" ms ""
printf "%-30s %8s %8s %8s %8s  %7s %7s  %7s %7s  %6s %6s  %6s  %s\n" "" "" "" "" "" best median \
    "" "" MiB MiB "" ""
cat "$WORK/table"
echo
echo "server/sink, run by run:"
cat "$WORK/pairs"
echo
echo "CPU seconds (user + system) of the receiving process, least of $REPEAT:"
printf "%-30s %8s %8s  %7s\n" workload server sink server/
printf "%-30s %8s %8s  %7s\n" "" s s sink
cat "$WORK/cpu"
echo
cat "$WORK/upload"
printf "conformance suite (bitspec run, embedded server): %.1f s wall, %s\n" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(tail -n 1 "$WORK/suite.out")"
[ "$suite" -eq 0 ] || echo "warning: the suite exited with status $suite" >&2

# The farm workload (README, "Farms"): bitspec-server on PostgreSQL, 1 and 2 nodes
# against local storage. BENCH_NO_FARM=1 leaves it out.
if [ -z "${BENCH_NO_FARM:-}" ]; then
    echo
    BENCH_SKIP_BUILD=1 bench/farm.sh
fi
