/**
 * The TCP sockets that processes listen on, from /proc (Linux): /proc/net/tcp and tcp6 give each
 * listening socket's address and inode, /proc/<pid>/fd maps inodes to processes. For the check
 * that tuneflow's services listen on loopback (scripts/check-loopback.ts, test/ops/security.test.ts).
 */
import * as path from 'node:path';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface Listener {
  pid: number;
  command: string;
  address: string;
  port: number;
}

const TCP_LISTEN = '0A';

/** `0100007F` -> 127.0.0.1; tcp6's 32 hex digits are four little-endian 32-bit words. */
function addressOf(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  if (bytes.length === 4) return [...bytes].join('.');
  const words = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  // The longest run of zero words becomes "::" (RFC 5952).
  let best = { start: -1, length: 0 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && words[start + length] === '0') length++;
    if (length > best.length) best = { start, length };
  }
  if (best.length < 2) return words.join(':');
  return `${words.slice(0, best.start).join(':')}::${words.slice(best.start + best.length).join(':')}`;
}

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:7f[0-9a-f]{2}:/.test(address);
}

/** inode -> address and port of every listening TCP socket of this network namespace. */
function listeningSockets(): Map<string, { address: string; port: number }> {
  const sockets = new Map<string, { address: string; port: number }>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, state, inode] = [fields[1], fields[3], fields[9]];
      if (state !== TCP_LISTEN) continue;
      const [ip, port] = local.split(':');
      sockets.set(inode, { address: addressOf(ip), port: parseInt(port, 16) });
    }
  }
  return sockets;
}

function parentOf(pid: number): number | null {
  try {
    // The command may hold spaces and parentheses: the fields after its closing one are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function pids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

/** `roots` and every process below them. */
export function processTree(roots: number[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    const parent = parentOf(pid);
    if (parent !== null) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const tree = new Set<number>();
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (tree.has(pid)) continue;
    tree.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function socketInodes(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const target = readlinkSync(path.join(`/proc/${pid}/fd`, fd));
        const match = /^socket:\[(\d+)\]$/.exec(target);
        return match ? [match[1]] : [];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 160);
  } catch {
    return '?';
  }
}

/** The listening TCP sockets held by `processes`. */
export function listenersOf(processes: Iterable<number>): Listener[] {
  const sockets = listeningSockets();
  const found: Listener[] = [];
  for (const pid of processes) {
    for (const inode of socketInodes(pid)) {
      const socket = sockets.get(inode);
      if (socket) found.push({ pid, command: commandOf(pid), ...socket });
    }
  }
  return found;
}

/** The process listening on `port`, among all this namespace's processes; null if none is seen. */
export function pidListeningOn(port: number): number | null {
  return listenersOf(pids()).find((listener) => listener.port === port)?.pid ?? null;
}
