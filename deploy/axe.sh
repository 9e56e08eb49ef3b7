#!/usr/bin/env bash
# axe-core, the accessibility engine the console's browser tests inject into each screen
# (tests/support/axe.py). Fetched from npm by its pinned version into .cache/axe/, never
# from a CDN; the tarball's integrity is npm's (checked by `npm pack` against the registry).
set -euo pipefail
VERSION="${AXE_CORE_VERSION:-4.14.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.cache/axe"
TARGET="$DEST/axe-$VERSION.min.js"
if [[ -s "$TARGET" ]]; then
    exit 0
fi
command -v npm >/dev/null || { echo "axe.sh: npm is missing (apt-get install -y npm)" >&2; exit 1; }
mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "axe-core@$VERSION" >/dev/null)
tar -xzf "$WORK/axe-core-$VERSION.tgz" -C "$WORK" package/axe.min.js
mv "$WORK/package/axe.min.js" "$TARGET.part"
mv "$TARGET.part" "$TARGET"
echo "axe.sh: axe-core $VERSION in $TARGET"
