#!/usr/bin/env bash
# The compiled load generators of `make bench`, installed or built when missing:
#   wrk     Debian's package (closed loop, Lua-scripted requests)
#   loadgen bench/loadgen/*.go (open loop at a fixed rate), standard library only, built
#           with `go build` into .cache/loadgen/ and rebuilt when its sources change.
# Prints nothing on success but what it installed or built.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="$REPO/.cache/loadgen"

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "build.sh: wrk is missing; install Debian's wrk package" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq wrk >/dev/null
  echo "build.sh: installed $(wrk -v 2>&1 | head -n1)" >&2
fi

command -v go >/dev/null || { echo "build.sh: go is missing (the Go toolchain builds bench/loadgen)" >&2; exit 1; }
mkdir -p "$OUT"
sum="$(cat "$HERE"/go.mod "$HERE"/*.go | sha256sum | cut -d' ' -f1)"
if [[ -x "$OUT/loadgen" && -f "$OUT/.sum" && "$(cat "$OUT/.sum")" == "$sum" ]]; then
  exit 0
fi
(cd "$HERE" && CGO_ENABLED=0 go build -trimpath -o "$OUT/loadgen.tmp" .)
mv "$OUT/loadgen.tmp" "$OUT/loadgen"
echo "$sum" >"$OUT/.sum"
echo "build.sh: built $OUT/loadgen" >&2
