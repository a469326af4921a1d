/**
 * How a step's processes start: the interpreter, the command line (one Python process, or the
 * DeepSpeed launcher with one rank per GPU) and a free port for the launcher's rendezvous.
 */
import * as path from 'node:path';
import { createServer } from 'node:net';
import { REPO_ROOT } from '../artifacts';

/** How a step's processes start: one Python process, or one per GPU under the DeepSpeed launcher. */
export type Launch =
  | { kind: 'python' }
  | { kind: 'deepspeed'; numGpus: number; hostfile: string | null; masterPort: number };

export function pythonExecutable(): string {
  return process.env.TUNEFLOW_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
}

/**
 * The environment of every Python process of tuneflow (steps and engines): our package importable,
 * events to `socketPath`, output unbuffered (the last lines before a crash are the useful ones).
 */
export function pythonEnvironment(socketPath: string): Record<string, string | undefined> {
  return {
    PYTHONPATH: [path.join(REPO_ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    TUNEFLOW_EVENTS_SOCKET: socketPath,
    PYTHONUNBUFFERED: '1',
    // The payload codec's keys stay in this process: no Python library can print them.
    TUNEFLOW_CODEC_KEYS: undefined,
    TUNEFLOW_CODEC_KEY_ID: undefined,
  };
}

/** The command line of a step; the launcher starts `python -m tuneflow_ml.<module>` per rank. */
export function stepCommand(module: string, specPath: string, launch: Launch): [string, ...string[]] {
  const moduleArgs = ['--spec', specPath];
  if (launch.kind === 'python') return [pythonExecutable(), '-m', `tuneflow_ml.${module}`, ...moduleArgs];
  // The launcher script sits beside the interpreter and starts its ranks with that interpreter.
  const launcher = path.join(path.dirname(pythonExecutable()), 'deepspeed');
  return [
    launcher,
    '--num_gpus',
    String(launch.numGpus),
    '--master_port',
    String(launch.masterPort),
    ...(launch.hostfile ? ['--hostfile', launch.hostfile] : []),
    // Ranks read LOCAL_RANK from the environment; the step's own arguments stay `--spec` only.
    '--no_local_rank',
    '--module',
    `tuneflow_ml.${module}`,
    ...moduleArgs,
  ];
}

/** A free TCP port on this host, for the launcher's rendezvous (two runs on one host must differ). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
