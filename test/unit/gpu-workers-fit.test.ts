/** The preflight's GPU-worker check, from the identities GPU workers poll with. */
import { parseConfig } from '../../lib/config';
import { gpuWorkerIdentity, parseGpuWorkerIdentity, type GpuWorkerFacts } from '../../lib/worker-identity';
import { gpuWorkersFit } from '../../activities/preflight/gpu-workers';

const train = (overrides: Record<string, unknown>) => parseConfig({ train: overrides }).train;
const worker = (cudaDevices: number, dsAccelerator: string | null = null): GpuWorkerFacts => ({ host: 'node-1', cudaDevices, dsAccelerator });

test('a GPU worker states its devices in its identity, and the preflight reads them back', () => {
  expect(parseGpuWorkerIdentity(gpuWorkerIdentity(8, {}))).toMatchObject({ cudaDevices: 8, dsAccelerator: null });
  expect(parseGpuWorkerIdentity(gpuWorkerIdentity(0, { DS_ACCELERATOR: 'cpu' }))).toMatchObject({ cudaDevices: 0, dsAccelerator: 'cpu' });
  // Another program's worker on the queue states nothing: it is not counted.
  expect(parseGpuWorkerIdentity('1234@host')).toBeNull();
});

test.each([
  ['DeepSpeed with no GPU on any worker', { deepspeed: { stage: 2 } }, [worker(0)], /train\.deepspeed needs CUDA GPUs.*DS_ACCELERATOR=cpu/],
  ['more GPUs than any worker has', { numGpus: 8 }, [worker(1), worker(2)], /train\.numGpus 8 is more than any GPU worker.*Lower train\.numGpus to 2/],
])('refused: %s', (_case, overrides, workers, message) => {
  expect(() => gpuWorkersFit(train(overrides), workers)).toThrow(message);
});

test.each([
  ['DeepSpeed on a CUDA worker', { deepspeed: { stage: 2 } }, [worker(0), worker(8)]],
  ['DeepSpeed on CPUs where a worker asks for it', { deepspeed: { stage: 2 }, numGpus: 2 }, [worker(0, 'cpu')]],
  ['no DeepSpeed on a CPU worker (training on the CPU)', {}, [worker(0)]],
  ['several nodes from a hostfile', { deepspeed: { stage: 3 }, numGpus: 8, hostfile: 'hosts' }, [worker(1)]],
])('accepted: %s', (_case, overrides, workers) => {
  expect(gpuWorkersFit(train(overrides), workers)).toMatch(/GPU worker\(s\): node-1/);
});
