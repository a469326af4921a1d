#!/usr/bin/env bash
# Debian's chromium for the browser test (test/ops/temporal-ui.test.ts): playwright-core drives the
# system browser, so Playwright never downloads one. Idempotent: a no-op when /usr/bin/chromium
# exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-chromium chromium
/usr/bin/chromium --version
