/**
 * Two "nodes" on this machine for multi-node tests: one real OpenSSH server per loopback address
 * (127.0.0.2, 127.0.0.3), each with its own host key and a client key made for the test, under host
 * names of the test's own (`node-a`, `node-b`). DeepSpeed's multinode runner reaches them the way it
 * reaches real hosts: `ssh <host>` for its check, pdsh over ssh for the launch. What a real cluster
 * keeps in ~/.ssh/config (host names, ports, keys, known hosts) is one config file here, which an
 * `ssh` on the PATH of the test's worker passes to the real ssh (`-F`), so that ~/.ssh stays untouched.
 *
 * Processes a node started descend from its sshd: `nodeProcesses` lists them, which is how a test
 * sees that nothing is left running "on" a node.
 */
import * as path from 'node:path';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { freePort } from '../../lib/python-step';
import { tempDir } from './environment';

export interface SshNode {
  name: string;
  address: string;
  port: number;
  sshd: ResultPromise;
}

export interface SshNodes {
  nodes: SshNode[];
  /** A folder to put first on the worker's PATH: its `ssh` uses the nodes' config. */
  binDir: string;
  /** A DeepSpeed hostfile naming every node with `slots` ranks each. */
  hostfile: string;
  dir: string;
}

const SSHD = '/usr/sbin/sshd';

export async function startSshNodes(addresses: string[] = ['127.0.0.2', '127.0.0.3'], slots = 1): Promise<SshNodes> {
  const dir = await tempDir('ssh-nodes');
  const key = path.join(dir, 'client_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${key}.pub`, 'utf8'));
  // sshd's privilege separation needs this folder to exist (Debian creates it only at boot).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const user = (await execa('id', ['-un'])).stdout.trim();
  const nodes: SshNode[] = [];
  const knownHosts: string[] = [];
  const clientConfig: string[] = [];
  for (const [index, address] of addresses.entries()) {
    const name = `node-${String.fromCharCode(97 + index)}`;
    const hostKey = path.join(dir, `${name}_host_ed25519`);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const port = await freePort();
    const config = path.join(dir, `${name}_sshd_config`);
    await writeFile(
      config,
      [
        `ListenAddress ${address}:${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, `${name}.pid`)}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        // The test's files live in /tmp, which StrictModes would refuse as group/world-writable.
        'StrictModes no',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    const sshd = execa(SSHD, ['-D', '-e', '-f', config], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
    nodes.push({ name, address, port, sshd });
    const hostPublicKey = (await readFile(`${hostKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    knownHosts.push(`[${address}]:${port} ${hostPublicKey}`);
    clientConfig.push(
      `Host ${name}`,
      `  HostName ${address}`,
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${path.join(dir, 'known_hosts')}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '',
    );
  }
  await writeFile(path.join(dir, 'known_hosts'), `${knownHosts.join('\n')}\n`);
  const sshConfig = path.join(dir, 'ssh_config');
  await writeFile(sshConfig, clientConfig.join('\n'));

  const binDir = path.join(dir, 'bin');
  await mkdir(binDir);
  const wrapper = path.join(binDir, 'ssh');
  await writeFile(wrapper, `#!/bin/sh\nexec /usr/bin/ssh -F '${sshConfig}' "$@"\n`);
  await chmod(wrapper, 0o755);

  const hostfile = path.join(dir, 'hostfile');
  await writeFile(hostfile, nodes.map((node) => `${node.name} slots=${slots}`).join('\n') + '\n');

  for (const node of nodes) await waitForSsh(wrapper, node);
  return { nodes, binDir, hostfile, dir };
}

async function waitForSsh(ssh: string, node: SshNode): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { exitCode, stderr } = await execa(ssh, [node.name, 'true'], { reject: false });
    if (exitCode === 0) return;
    if (Date.now() > deadline) throw new Error(`sshd of ${node.name} (${node.address}:${node.port}) does not answer: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Every live process descending from the node's sshd (its sessions and what they started). */
export async function nodeProcesses(node: SshNode): Promise<{ pid: number; command: string }[]> {
  const { stdout } = await execa('ps', ['-e', '-o', 'pid=,ppid=,args=']);
  const rows = stdout
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), command: m[3] }));
  const descendants = new Set<number>([node.sshd.pid!]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const row of rows) {
      if (!descendants.has(row.pid) && descendants.has(row.ppid)) {
        descendants.add(row.pid);
        grew = true;
      }
    }
  }
  return rows.filter((row) => row.pid !== node.sshd.pid && descendants.has(row.pid)).map(({ pid, command }) => ({ pid, command }));
}

export async function stopSshNodes(nodes: SshNodes): Promise<void> {
  for (const node of nodes.nodes) {
    node.sshd.kill('SIGTERM');
    await node.sshd;
  }
}
