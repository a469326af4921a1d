/** The DeepSpeed hostfile of `train.hostfile`: the nodes a training spans, and their ranks (slots). */
import { readFile } from 'node:fs/promises';
import { resolveFromRepo } from './artifacts';
import { InvalidConfigError } from './failures';

export interface HostfileNode {
  /** The host name as pdsh and ssh reach it (~/.ssh/config may map it to an address). */
  name: string;
  /** Ranks on that node: one per GPU. */
  slots: number;
}

/**
 * The nodes of a DeepSpeed hostfile, in its order (the launcher's node ranks): one
 * `hostname slots=N` line per node; comments and blank lines aside. Every node must have as many
 * slots as the first: the memory plan and tuneflow's GPU-hours count per node alike.
 */
export async function hostfileNodes(hostfile: string): Promise<HostfileNode[]> {
  let text: string;
  try {
    text = await readFile(resolveFromRepo(hostfile), 'utf8');
  } catch (err) {
    throw new InvalidConfigError(
      'train.hostfile',
      `${hostfile} cannot be read (${(err as NodeJS.ErrnoException).code}); give a DeepSpeed hostfile with one ` +
        '"hostname slots=N" line per node',
    );
  }
  const nodes: HostfileNode[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const match = /^(\S+)\s+slots\s*=\s*(\d+)$/.exec(line);
    if (!match || Number(match[2]) < 1) {
      throw new InvalidConfigError('train.hostfile', `${hostfile} line ${index + 1} is "${raw.trim()}"; write "hostname slots=N" (N ≥ 1)`);
    }
    nodes.push({ name: match[1], slots: Number(match[2]) });
  }
  if (nodes.length === 0) throw new InvalidConfigError('train.hostfile', `${hostfile} names no host; add "hostname slots=N" lines`);
  const uneven = nodes.find((node) => node.slots !== nodes[0].slots);
  if (uneven) {
    throw new InvalidConfigError(
      'train.hostfile',
      `${hostfile} gives ${nodes[0].name} ${nodes[0].slots} slots but ${uneven.name} ${uneven.slots}; ` +
        'give every node the same number of GPUs (slots), or list only the nodes alike',
    );
  }
  return nodes;
}

/** The shape of a training: nodes and ranks per node (the hostfile's slots, else train.numGpus). */
export async function trainingShape(train: { hostfile: string | null; numGpus: number }): Promise<{ nodes: number; gpusPerNode: number }> {
  if (train.hostfile === null) return { nodes: 1, gpusPerNode: Math.max(1, train.numGpus) };
  const nodes = await hostfileNodes(train.hostfile);
  return { nodes: nodes.length, gpusPerNode: nodes[0].slots };
}
