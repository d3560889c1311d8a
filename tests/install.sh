#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine: Python packages and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-test.txt
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
  else
    echo "tests/install.sh: /usr/bin/chromium is missing; install Debian's chromium for the browser tests" >&2
  fi
fi
