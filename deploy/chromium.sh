#!/usr/bin/env bash
# Debian's Chromium for the console's browser test (Playwright drives it; no browser
# download, which this network would refuse anyway). Installs it when missing and root.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "chromium.sh: /usr/bin/chromium is missing; install Debian's chromium package" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "chromium.sh: installed $(/usr/bin/chromium --version)"
