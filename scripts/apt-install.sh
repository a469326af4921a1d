#!/usr/bin/env bash
# Installs Debian packages for a test (usage: apt-install.sh <who asks> <package>...), as root or
# through sudo; the callers check first whether what they need is there, so a second run installs
# nothing. Kept out of scripts/setup.sh because that script's own text is part of the Python
# venv's fingerprint: editing it would reinstall torch and the rest.
set -euo pipefail
who="$1"
shift
if ! command -v apt-get >/dev/null; then
  echo "$who: no apt-get here; install the Debian packages $* (or their equivalents) yourself" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "$who: installing $* needs root; run this as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "$who: installing Debian's $* (apt-get)"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
