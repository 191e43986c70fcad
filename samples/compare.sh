#!/usr/bin/env bash
# compare.sh — run gort's samples and their Go twins side by side.
#
#   samples/compare.sh [-n RUNS] [NAME[:ARGS] ...]
#
# Builds the gort samples (cargo, release) and the Go twins (samples/go/NAME,
# `go build`), then runs each pair alternately RUNS times (gort, Go, gort,
# Go, ...) so that both see the same machine weather, and prints the medians
# of wall time, CPU time (user + sys) and peak RSS with the gort/Go ratio
# (below 1.00x: gort is faster / cheaper / smaller). Both sides are measured by the same helper
# (samples/src/bin/measure.rs: wall clock + wait4's ru_maxrss) and inherit
# the same environment, so `GOGC=50 samples/compare.sh` compares both at
# GOGC=50. Programs whose output is deterministic (binarytrees,
# bigbytes-touch) also have their stdout compared byte for byte. The last
# line gives the load average at the start and the end: wall times are only
# comparable between tables measured on an equally busy machine.
#
# Default set: bigbytes bigbytes-touch binarytrees:18 gcbench
# Other names: memstats, gclatency, sched, binarytrees:21, ...
# ARGS after ':' are split on ','  (e.g. binarytrees:18).
#
# Without a Go toolchain on PATH it says so and prints gort's numbers only.
set -euo pipefail

RUNS=5
if [[ "${1:-}" == "-n" ]]; then RUNS="$2"; shift 2; fi
if [[ $# -eq 0 ]]; then set -- bigbytes bigbytes-touch binarytrees:18 gcbench; fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gort-compare.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "building gort samples (cargo build --release -p gort-samples) ..." >&2
(cd "$ROOT" && cargo build --release --quiet -p gort-samples --bins) >&2
MEASURE="$BIN/measure"

HAVE_GO=0
if command -v go >/dev/null 2>&1; then
  HAVE_GO=1
  echo "building Go twins with $(go version) ..." >&2
else
  echo "Go is not installed (no 'go' on PATH): showing gort's numbers only." >&2
  echo "Install Go 1.19 (e.g. Debian's golang-go) to get the comparison." >&2
fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
printf '%-18s %4s  %10s %10s %6s  %9s %9s %6s  %10s %10s %6s  %s\n' \
  sample runs "gort wall" "Go wall" ratio "gort CPU" "Go CPU" ratio "gort RSS" "Go RSS" ratio output
for spec in "$@"; do
  name="${spec%%:*}"
  args=()
  if [[ "$spec" == *:* ]]; then IFS=',' read -r -a args <<<"${spec#*:}"; fi
  gort_bin="$BIN/$name"
  if [[ ! -x "$gort_bin" ]]; then echo "no gort sample named '$name' ($gort_bin)" >&2; exit 2; fi
  go_bin=""
  if [[ $HAVE_GO == 1 && -f "$ROOT/samples/go/$name/main.go" ]]; then
    go_bin="$WORK/go-$name"
    (cd "$ROOT/samples/go/$name" && GO111MODULE=off go build -o "$go_bin" main.go) >&2
  fi
  for ((i = 0; i < RUNS; i++)); do
    "$MEASURE" "$WORK/$name.gort" "$gort_bin" "${args[@]}" >"$WORK/$name.gort.out" 2>"$WORK/$name.gort.err" ||
      { echo "gort $name failed (exit $?):" >&2; cat "$WORK/$name.gort.err" >&2; exit 1; }
    if [[ -n "$go_bin" ]]; then
      "$MEASURE" "$WORK/$name.go" "$go_bin" "${args[@]}" >"$WORK/$name.go.out" 2>"$WORK/$name.go.err" ||
        { echo "Go $name failed (exit $?):" >&2; cat "$WORK/$name.go.err" >&2; exit 1; }
    fi
  done
  gw=$(cut -d' ' -f1 "$WORK/$name.gort" | median)
  gc=$(awk '{print $2 + $3}' "$WORK/$name.gort" | median)
  gr=$(cut -d' ' -f4 "$WORK/$name.gort" | median)
  if [[ -n "$go_bin" ]]; then
    ow=$(cut -d' ' -f1 "$WORK/$name.go" | median)
    oc=$(awk '{print $2 + $3}' "$WORK/$name.go" | median)
    orss=$(cut -d' ' -f4 "$WORK/$name.go" | median)
    out="-"
    case "$name" in
      binarytrees | bigbytes-touch)
        if cmp -s "$WORK/$name.gort.out" "$WORK/$name.go.out"; then out="same"; else out="DIFFERENT"; fi ;;
    esac
    awk -v s="$spec" -v n="$RUNS" -v gw="$gw" -v ow="$ow" -v gc="$gc" -v oc="$oc" -v gr="$gr" -v orss="$orss" -v out="$out" 'BEGIN {
      printf "%-18s %4d  %8.3f s %8.3f s %5.2fx  %7.2f s %7.2f s %5.2fx  %6.1f MiB %6.1f MiB %5.2fx  %s\n",
        s, n, gw, ow, gw/ow, gc, oc, (oc > 0 ? gc/oc : 0), gr/1024, orss/1024, gr/orss, out }'
  else
    awk -v s="$spec" -v n="$RUNS" -v gw="$gw" -v gc="$gc" -v gr="$gr" 'BEGIN {
      printf "%-18s %4d  %8.3f s %10s %6s  %7.2f s %9s %6s  %6.1f MiB %10s %6s  %s\n", s, n, gw, "-", "-", gc, "-", "-", gr/1024, "-", "-", "-" }'
  fi
done
# Wall time depends on what else the machine runs (RSS does not): say how busy it was.
echo "load average (1, 5, 15 min): $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') at end"
