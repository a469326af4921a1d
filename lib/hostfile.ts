/** The DeepSpeed hostfile of `train.hostfile`: how many nodes a training spans. */
import { readFile } from 'node:fs/promises';
import { resolveFromRepo } from './artifacts';
import { InvalidConfigError } from './failures';

/** DeepSpeed hostfile: one `hostname slots=N` line per node; comments and blank lines aside. */
export async function hostfileNodes(hostfile: string | null): Promise<number> {
  if (hostfile === null) return 1;
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
  const nodes = text.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#')).length;
  if (nodes === 0) throw new InvalidConfigError('train.hostfile', `${hostfile} names no host; add "hostname slots=N" lines`);
  return nodes;
}
