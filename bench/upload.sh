#!/usr/bin/env bash
# `bitspec upload` against the reference server, for the README's figures:
#  1. throughput: one upload of SIZE (default 1 GiB) in FRAGMENT (1 MiB) fragments by
#     `bitspec upload`, next to `bitspec bench --sessions 1` with the same size and
#     fragments, in the same run, interleaved, best of BENCH_REPEAT (default 3); each
#     against a freshly started release `bitspec-server`;
#  2. resume: the same upload SIGKILLed KILLS times (default 3) at random points, then
#     run to completion, and the stored file compared byte for byte with the source.
#
# Usage: bench/upload.sh      (SIZE=256M, KILLS=3, BENCH_REPEAT=3, BENCH_DIR=/path)
# Bounds: three times SIZE on disk at most (source, stored file, server's partial file),
# removed at the end; a few minutes for 1 GiB.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${SIZE:-1G}
FRAGMENT=${FRAGMENT:-1M}
REPEAT=${BENCH_REPEAT:-3}
KILLS=${KILLS:-3}
BIN="${CARGO_TARGET_DIR:-target}/release"
BYTES=$(numfmt --from=iec "$SIZE")

echo "building (release)..." >&2
cargo build --release --quiet -p bitspec -p bitspec-server

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bitspec-upload-bench.XXXXXX")
PID=
UPLOAD=
cleanup() {
    if [ -n "$UPLOAD" ]; then kill -9 "$UPLOAD" 2>/dev/null || true; fi
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

start() {
    rm -rf "$WORK/store"
    "$BIN/bitspec-server" --listen 127.0.0.1:0 --root "$WORK/store" >"$WORK/out" 2>"$WORK/log" &
    PID=$!
    URL=
    for _ in $(seq 100); do
        URL=$(grep -o 'http://[^ ]*' "$WORK/out" 2>/dev/null || true)
        [ -n "$URL" ] && return 0
        sleep 0.05
    done
    echo "error: bitspec-server did not start:" >&2; cat "$WORK/log" >&2; exit 1
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
    rm -rf "$WORK/store"
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }

echo "writing a $SIZE source file..." >&2
head -c "$BYTES" /dev/urandom >"$WORK/source.bin"

best_bench= best_upload=
for rep in $(seq "$REPEAT"); do
    echo "  throughput: run $rep of $REPEAT" >&2
    start
    "$BIN/bitspec" bench --target "$URL" --sessions 1 --size "$SIZE" --fragment "$FRAGMENT" \
        --json >"$WORK/bench.json"
    mbs=$(jq .mb_per_s "$WORK/bench.json")
    best_bench=$(max "$best_bench" "$mbs")
    stop
    start
    t0=$(date +%s.%N)
    "$BIN/bitspec" upload "$WORK/source.bin" "${URL}upload.bin" --fragment "$FRAGMENT" --quiet \
        --state-dir "$WORK"
    t1=$(date +%s.%N)
    mbs=$(awk -v b="$BYTES" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / (t1 - t0) / 1e6 }')
    best_upload=$(max "$best_upload" "$mbs")
    stop
done

echo "  resume: $KILLS SIGKILLs at random points" >&2
start
expected=$(awk -v b="$BYTES" -v r="$best_upload" 'BEGIN { print b / r / 1e6 }')
kills=
for k in $(seq "$KILLS"); do
    # Somewhere in the first 5 to 30 % of the expected time of the whole upload.
    wait_s=$(awk -v e="$expected" -v r="$RANDOM" 'BEGIN { printf "%.2f", e * (0.05 + 0.25 * r / 32767) }')
    "$BIN/bitspec" upload "$WORK/source.bin" "${URL}resumed.bin" --fragment "$FRAGMENT" --quiet \
        --state-dir "$WORK" &
    UPLOAD=$!
    sleep "$wait_s"
    kill -9 "$UPLOAD"
    wait "$UPLOAD" 2>/dev/null || true
    UPLOAD=
    offset=$(jq .offset "$WORK"/source.bin-*.bitspec-upload)
    kills="$kills ${wait_s}s->$offset"
done
t0=$(date +%s.%N)
"$BIN/bitspec" upload "$WORK/source.bin" "${URL}resumed.bin" --fragment "$FRAGMENT" \
    --state-dir "$WORK"
t1=$(date +%s.%N)
if cmp -s "$WORK/source.bin" "$WORK/store/resumed.bin"; then same=byte-identical; else same=DIFFERENT; fi
stop

echo
echo "bitspec upload vs bitspec bench --sessions 1, $SIZE in $FRAGMENT fragments, best of $REPEAT (MB/s):"
awk -v u="$best_upload" -v b="$best_bench" 'BEGIN {
    printf "  upload %.0f   bench %.0f   ratio %.0f%%\n", u, b, 100 * u / b }'
echo "resume: killed at (time -> journal offset):$kills"
awk -v t0="$t0" -v t1="$t1" -v s="$same" 'BEGIN { printf "  last run %.1fs; stored file: %s\n", t1 - t0, s }'
[ "$same" = byte-identical ]
