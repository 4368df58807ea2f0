#!/usr/bin/env bash
# fps of `nightvid enhance`, each run a fresh process, with glibc's malloc defaults
# (NIGHTVID_KEEP_FREED_MEMORY=0) and with freed memory kept (nightvid's default),
# alternating so that a passing load hits both alike. Prints "round backend mode fps".
#
#   bash benchmarks/enhance_host_memory.sh [CLIP] [ROUNDS] [BACKEND ...]
#   bash benchmarks/enhance_host_memory.sh nightvid/assets/night-demo.mp4 3 onnx eager inductor
set -euo pipefail
clip=${1:-nightvid/assets/night-demo.mp4}
rounds=${2:-3}
if [ $# -gt 2 ]; then backends=("${@:3}"); else backends=(onnx eager inductor); fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
  for backend in "${backends[@]}"; do
    for mode in default kept; do
      if [ "$mode" = default ]; then keep=0; else keep=1; fi
      fps=$(NIGHTVID_KEEP_FREED_MEMORY=$keep nightvid enhance "$clip" "$out/out.mp4" --backend "$backend" \
              --overwrite --json --quiet | python3 -c 'import json, sys; print(json.load(sys.stdin)["fps"])')
      echo "$round $backend $mode $fps"
    done
  done
done
