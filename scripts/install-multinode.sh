#!/usr/bin/env bash
# Debian's pdsh and OpenSSH (client and server) for the multi-node test
# (test/integration/multi-node-train.test.ts): DeepSpeed's multinode runner starts the ranks with
# pdsh over ssh, and the test runs an sshd of its own per loopback "node". Idempotent: a no-op when
# pdsh, ssh, ssh-keygen and sshd are there. The test starts sshds of its own on loopback addresses;
# it needs no system sshd.
set -euo pipefail
if command -v pdsh >/dev/null && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && [ -x /usr/sbin/sshd ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-multinode: no apt-get here; install pdsh, an OpenSSH client and /usr/sbin/sshd yourself" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-multinode: installing pdsh and openssh-server needs root; run this script as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "install-multinode: installing Debian's pdsh, openssh-client and openssh-server (apt-get)"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends pdsh openssh-client openssh-server >/dev/null
pdsh -V 2>&1 | head -1
