/**
 * What a step needs when its ranks run on a hostfile's nodes: the address the ranks send their
 * events to, the launch's environment file, and failures that name the node they happened on.
 *
 * Events come over TCP to this worker (not a Unix socket that rank 0 would reach only on the
 * worker's own host): every rank on every node is then connected, so each one learns at once when
 * the activity is gone or stops the step, and the activity learns at once which rank vanished.
 */
import * as os from 'node:os';
import { createSocket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES, InvalidConfigError } from '../failures';
import { deepSpeedEnvironmentFile, SHELL_SAFE, type MultiNode } from './launch';
import type { RankEvent } from './protocol';

/**
 * The address of this worker that the nodes reach: TUNEFLOW_EVENTS_HOST if set, else the local
 * address of the route to the rendezvous host (train.masterAddr), else this host's name.
 */
export async function eventsHost(masterAddr: string | null): Promise<string> {
  const configured = process.env.TUNEFLOW_EVENTS_HOST;
  if (configured) return configured;
  if (masterAddr === null) return os.hostname();
  // Connecting a UDP socket sends nothing: it only asks the kernel which local address routes there.
  const probe = createSocket(masterAddr.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.connect(9, masterAddr, () => resolve());
    });
    return probe.address().address;
  } catch (err) {
    throw new InvalidConfigError(
      'train.masterAddr',
      `no route from this worker to ${masterAddr} (${(err as Error).message}); give an address the nodes and this ` +
        'worker reach, or set TUNEFLOW_EVENTS_HOST on the worker to the address the nodes reach it at',
    );
  } finally {
    probe.close();
  }
}

/**
 * pdsh hands the launch command to each node's shell, spec path and working folder included:
 * a path that the shell would split or expand is refused before anything starts.
 */
export function checkShellSafe(paths: Record<string, string>): void {
  for (const [what, value] of Object.entries(paths)) {
    if (!SHELL_SAFE.test(value)) {
      throw new InvalidConfigError(
        what,
        `${value} holds characters the nodes' shells would interpret (pdsh runs the launch through ssh); ` +
          'use a path of letters, digits and @%+=:,./- only',
      );
    }
  }
}

/** Writes the launch's `.deepspeed_env` (0600: it holds the events token); the names left out. */
export async function writeDeepSpeedEnvironment(file: string, environment: Record<string, string | undefined>): Promise<string[]> {
  const { text, unsafe } = deepSpeedEnvironmentFile(environment);
  await writeFile(file, text, { mode: 0o600 });
  return unsafe;
}

/** The hostfile's name of a rank's node (DeepSpeed numbers the nodes in the hostfile's order). */
export function nodeName(multiNode: MultiNode | null, rank: RankEvent): string {
  if (multiNode === null) return `this host (${rank.hostname})`;
  return multiNode.nodes[rank.nodeRank]?.name ?? `node ${rank.nodeRank} (${rank.hostname})`;
}

/** pdsh's verdict on each node whose launch failed: `pdsh@w: node-b: ssh exited with exit code 1`. */
export function failedNodes(outputTail: string[]): { node: string; exitCode: number }[] {
  return outputTail
    .map((line) => /pdsh@[^:]+: ([^:\s]+): ssh exited with exit code (\d+)/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ node: match[1], exitCode: Number(match[2]) }));
}

const NODE_TAIL_LINES = 20;

/**
 * The last output lines of each node, kept apart (pdsh prefixes them `node: `): one busy node's
 * output must not push out the failing node's last lines.
 */
export class NodeOutput {
  private readonly tails = new Map<string, string[]>();

  constructor(nodes: string[]) {
    for (const node of nodes) this.tails.set(node, []);
  }

  add(line: string): void {
    const prefix = /^([^:\s]+): /.exec(line)?.[1];
    const tail = prefix === undefined ? undefined : this.tails.get(prefix);
    if (!tail) return;
    tail.push(line);
    if (tail.length > NODE_TAIL_LINES) tail.shift();
  }

  /** The node's last lines; the step's whole tail when there is no node or it printed nothing. */
  of(node: string | null, outputTail: string[]): string {
    const lines = node === null ? [] : (this.tails.get(node) ?? []);
    return (lines.length > 0 ? lines : outputTail).join('\n');
  }
}

/** A rank that vanished: which, where, what became of the gang, what the retry does. */
export function rankLostFailure(
  module: string,
  multiNode: MultiNode | null,
  rank: RankEvent,
  output: { nodes: NodeOutput; tail: string[] },
): ApplicationFailure {
  const node = nodeName(multiNode, rank);
  return ApplicationFailure.create({
    type: FAILURE_TYPES.RankLost,
    message:
      `tuneflow_ml.${module}: rank ${rank.rank} (pid ${rank.pid}) on ${node} stopped without reporting an error: ` +
      'it was killed (out of host memory, a person, a node shutdown) or its node or network was lost. ' +
      'The other ranks were stopped; the retry resumes from the last complete checkpoint' +
      (multiNode ? ` (check that ${node} is up and reachable over ssh)` : '') +
      `; last output${multiNode ? ` of ${node}` : ''}:\n${output.nodes.of(multiNode ? node : null, output.tail)}`,
  });
}
