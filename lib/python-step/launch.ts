/**
 * How a step's processes start: the interpreter, the command line (one Python process, or the
 * DeepSpeed launcher with one rank per GPU, on this host or on a hostfile's nodes) and a free port
 * for the launcher's rendezvous.
 *
 * Several nodes go through DeepSpeed's own multinode runner: pdsh over ssh starts
 * `deepspeed.launcher.launch` on every node, which forwards only a few variables (PYTHON*, MLFLOW*,
 * NCCL* ...) and those of `.deepspeed_env`: `DS_ENV_FILE` names that file, written per attempt
 * (`deepSpeedEnvironmentFile`).
 */
import * as path from 'node:path';
import { createServer } from 'node:net';
import { REPO_ROOT } from '../artifacts';
import type { HostfileNode } from '../hostfile';

/** Nodes of a hostfile launch: pdsh reaches each by name; rank 0 serves the rendezvous at masterAddr. */
export interface MultiNode {
  hostfile: string;
  nodes: HostfileNode[];
  masterAddr: string | null;
}

/** How a step's processes start: one Python process, or one per GPU under the DeepSpeed launcher. */
export type Launch =
  | { kind: 'python' }
  | { kind: 'deepspeed'; numGpus: number; masterPort: number; multiNode: MultiNode | null };

export function pythonExecutable(): string {
  return process.env.TUNEFLOW_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
}

/**
 * The environment of every Python process of tuneflow (steps and engines): our package importable,
 * events to `eventsAddress` (a socket path or tcp://host:port), output unbuffered (the last lines before a crash are the useful ones).
 */
export function pythonEnvironment(eventsAddress: string): Record<string, string | undefined> {
  return {
    PYTHONPATH: [path.join(REPO_ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    TUNEFLOW_EVENTS_SOCKET: eventsAddress,
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
  const where = launch.multiNode
    ? [
        // One rank per slot of every node: --num_gpus would cap each node's ranks.
        '--hostfile',
        launch.multiNode.hostfile,
        '--launcher',
        'pdsh',
        ...(launch.multiNode.masterAddr ? ['--master_addr', launch.multiNode.masterAddr] : []),
      ]
    : ['--num_gpus', String(launch.numGpus)];
  return [
    launcher,
    ...where,
    '--master_port',
    String(launch.masterPort),
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

/**
 * Variables of this worker that the ranks on other nodes need, beyond what DeepSpeed forwards by
 * itself: tuneflow's (not the codec keys), DeepSpeed's accelerator choice, the libraries' caches
 * and switches, and object-store credentials.
 */
const FORWARDED_PREFIXES = ['TUNEFLOW_', 'DS_', 'HF_', 'TRANSFORMERS_', 'TORCH_', 'GLOO_', 'NCCL_', 'OMP_', 'AWS_'];
const NEVER_FORWARDED = new Set(['TUNEFLOW_CODEC_KEYS', 'TUNEFLOW_CODEC_KEY_ID', 'DS_ENV_FILE']);
/** pdsh hands each line to the remote shell; DeepSpeed quotes values in "": nothing may expand there. */
export const SHELL_SAFE = /^[\w@%+=:,./-]*$/;

/**
 * The lines of `.deepspeed_env` for a hostfile launch (`KEY=value`), and the names of variables
 * left out because their values hold characters the remote shell would interpret.
 */
export function deepSpeedEnvironmentFile(environment: Record<string, string | undefined>): { text: string; unsafe: string[] } {
  const forwarded = Object.entries({ ...process.env, ...environment })
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .filter(([key]) => FORWARDED_PREFIXES.some((prefix) => key.startsWith(prefix)) && !NEVER_FORWARDED.has(key));
  return {
    text: forwarded
      .filter(([, value]) => SHELL_SAFE.test(value))
      .map(([key, value]) => `${key}=${value}\n`)
      .join(''),
    unsafe: forwarded.filter(([, value]) => !SHELL_SAFE.test(value)).map(([key]) => key),
  };
}
