/**
 * What a GPU worker tells Temporal about its host, in its worker identity: the preflight step
 * (on a CPU worker, before any GPU is held) reads the GPU queue's pollers and checks that some
 * worker can run the training config. One format, written and read here.
 *
 *   `4711@gpu-node-1 tuneflow-gpu cuda=8 ds_accelerator=`
 */
import { hostname } from 'node:os';

export interface GpuWorkerFacts {
  host: string;
  /** CUDA devices torch sees on the host. */
  cudaDevices: number;
  /** The worker's DS_ACCELERATOR (`cpu` runs ZeRO on CPUs), or null when unset. */
  dsAccelerator: string | null;
}

export function gpuWorkerIdentity(cudaDevices: number, env: NodeJS.ProcessEnv = process.env): string {
  return `${process.pid}@${hostname()} tuneflow-gpu cuda=${cudaDevices} ds_accelerator=${env.DS_ACCELERATOR ?? ''}`;
}

/** The facts in a poller's identity, or null for a worker that does not state them. */
export function parseGpuWorkerIdentity(identity: string): GpuWorkerFacts | null {
  const match = /^\d+@(\S+) tuneflow-gpu cuda=(\d+) ds_accelerator=(\S*)$/.exec(identity);
  if (!match) return null;
  return { host: match[1], cudaDevices: Number(match[2]), dsAccelerator: match[3] === '' ? null : match[3] };
}
