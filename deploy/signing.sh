#!/usr/bin/env bash
# What signed documents need on this machine: Debian's DejaVu fonts (every Vietnamese
# letter; embedded into each PDF) and, for development and tests, a local test CA under
# .local/signing (root -> the province's signing certificate; keys 0600, never committed).
# Production points DOCUMENT_SIGNING_KEY_FILE / _CERT_FILE / DOCUMENT_TRUST_ROOTS_FILE at
# the province's own key and certificate instead (docs/SECURITY.md); nothing here is used.
set -euo pipefail
DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DEPLOY/.." && pwd)"
FONTS=/usr/share/fonts/truetype/dejavu

if [[ ! -f $FONTS/DejaVuSerif.ttf || ! -f $FONTS/DejaVuSerif-Italic.ttf ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "signing.sh: DejaVu fonts are missing; install fonts-dejavu-core fonts-dejavu-extra" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq fonts-dejavu-core fonts-dejavu-extra >/dev/null
    echo "signing.sh: installed Debian's DejaVu fonts"
fi
PYTHONPATH="$REPO" "$REPO/.venv/bin/python" -m services.runtime.documents.testca "$REPO/.local/signing"
