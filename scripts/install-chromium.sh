#!/usr/bin/env bash
# Debian's chromium for the browser test (test/ops/temporal-ui.test.ts): playwright-core drives the
# system browser, so Playwright never downloads one. Idempotent: a no-op when /usr/bin/chromium
# exists. Kept out of scripts/setup.sh because that script's own text is part of the Python venv's
# fingerprint: editing it would reinstall torch and the rest.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-chromium: no apt-get here; install Chromium yourself so that /usr/bin/chromium exists" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-chromium: installing the chromium package needs root; run this script as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "install-chromium: installing Debian's chromium (apt-get)"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
