#!/usr/bin/env bash
# marktree.sh — mark CPU per live byte on a tree heap, gort against Go.
#
#   [GOS="CMD[:LABEL] ..."] samples/marktree.sh [-n RUNS] [LIVE_MIB ...]
#
# Runs gort's marktree sample and its Go twin (samples/go/marktree, built by
# each toolchain in GOS, as compare.sh does) RUNS times each (default 3),
# alternating, with GODEBUG=gctrace=1. For the second and third forced
# collection of every run (the first may still sweep the build's garbage)
# it prints the medians of: the collection's wall time and the process's
# CPU time across it (getrusage, printed by the programs), gctrace's mark
# wall time (its second clock figure) and mark CPU (assist + background +
# idle: the middle CPU figures), the live heap after marking (the third MB
# figure), and both CPU figures per live MB. On a busy machine compare the
# rusage column: Go charges its mark workers by the wall time they run,
# gort by thread CPU time. Default sizes: 128 512.
set -euo pipefail
RUNS=3
if [[ "${1:-}" == "-n" ]]; then RUNS="$2"; shift 2; fi
if [[ $# -eq 0 ]]; then set -- 128 512; fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gort-marktree.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
(cd "$ROOT" && cargo build --release --quiet -p gort-samples --bin marktree) >&2
SIDES=("gort")
BINS=("$TARGET/release/marktree")
for entry in ${GOS:-go}; do
  cmd="${entry%%:*}"
  path="$(command -v "$cmd" 2>/dev/null || true)"
  if [[ -z "$path" ]]; then echo "Go toolchain '$cmd' is not installed: left out." >&2; continue; fi
  goroot="$(dirname "$(dirname "$(readlink -f "$path")")")"
  label="$(GOROOT="$goroot" GOTOOLCHAIN=local "$path" version | awk '{print $3}')"
  if [[ "$entry" == *:* ]]; then label="${entry#*:}"; fi
  out="$WORK/go-${#BINS[@]}"
  (cd "$ROOT/samples/go/marktree" && GOROOT="$goroot" GO111MODULE=off GOTOOLCHAIN=local "$path" build -o "$out" main.go) >&2
  SIDES+=("$label")
  BINS+=("$out")
done
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
printf '%-8s %-9s %9s %9s %10s %10s %7s %9s %9s\n' \
  live runtime "gc wall" "gc CPU" "mark wall" "mark CPU" "live MB" "CPU/MB" "mark/MB"
for mib in "$@"; do
  for ((i = 0; i < RUNS; i++)); do
    for k in "${!BINS[@]}"; do
      GODEBUG=gctrace=1 "${BINS[$k]}" "$mib" >"$WORK/out" 2>"$WORK/err"
      # Per forced collection: gc wall, gc CPU (stdout), then gctrace's mark
      # wall, mark CPU and live MB (stderr), one line each, in order.
      grep '^forced gc' "$WORK/out" | awk '{print $5, $8}' >"$WORK/a"
      grep 'forced' "$WORK/err" | awk '{
          for (f = 1; f <= NF; f++) {
            if ($(f+1) == "ms" && $(f+2) == "clock,") { split($f, c, "+"); wall = c[2] }
            if ($(f+1) == "ms" && $(f+2) == "cpu,") { split($f, c, "+"); split(c[2], m, "/"); cpu = m[1] + m[2] + m[3] }
            if ($(f+1) == "MB," && $f ~ /->/) { split($f, h, "->"); live = h[3] }
          }
          print wall, cpu, live
        }' >"$WORK/b"
      paste -d' ' "$WORK/a" "$WORK/b" | tail -n 2 >>"$WORK/$mib.$k"
    done
  done
  for k in "${!BINS[@]}"; do
    f="$WORK/$mib.$k"
    read -r gw gc mw mc l <<<"$(for c in 1 2 3 4 5; do cut -d' ' -f$c "$f" | median; done | tr '\n' ' ')"
    awk -v m="$mib MiB" -v s="${SIDES[$k]}" -v gw="$gw" -v gc="$gc" -v mw="$mw" -v mc="$mc" -v l="$l" 'BEGIN {
      printf "%-8s %-9s %6.1f ms %6.1f ms %7.1f ms %7.1f ms %7d %9.3f %9.3f\n", m, s, gw, gc, mw, mc, l, (l > 0 ? gc / l : 0), (l > 0 ? mc / l : 0) }'
  done
done
echo "ms of CPU per live MB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
