#!/usr/bin/env bash
# The browser of the public page's test (`make test` drives it with Playwright): Debian's
# Chromium, since Playwright's own browser download cannot be reached from these machines.
# Installed here when we are root with apt; otherwise said once, clearly.
source "$(dirname "$0")/common.sh"
BROWSER="${HUB_BROWSER:-/usr/bin/chromium}"
if [ -x "$BROWSER" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing Chromium from Debian (the public page's browser test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || { echo "make up: could not install chromium with apt-get: the public page's browser test will fail (apt-get install -y chromium)" >&2; exit 0; }
else
  echo "make up: no browser at $BROWSER: the public page's browser test will fail; install Debian's chromium (apt-get install -y chromium) or set HUB_BROWSER" >&2
fi
