#!/usr/bin/env bash
# Debian's pdsh and OpenSSH (client and server) for the multi-node test
# (test/integration/multi-node-train.test.ts): DeepSpeed's multinode runner starts the ranks with
# pdsh over ssh, and the test starts an sshd of its own per loopback "node" (no system sshd is
# needed). Idempotent: a no-op when pdsh, ssh, ssh-keygen and sshd are there.
set -euo pipefail
if command -v pdsh >/dev/null && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && [ -x /usr/sbin/sshd ]; then
  exit 0
fi
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-multinode pdsh openssh-client openssh-server
pdsh -V 2>&1 | head -1
