/**
 * Multi-node training for real, on this machine: two nodes are two loopback addresses, each with
 * its own OpenSSH server (test/helpers/ssh-nodes.ts), one CPU rank per node (DS_ACCELERATOR=cpu,
 * gloo). The train activity starts DeepSpeed's own multinode runner, which reaches the nodes with
 * pdsh over ssh, as on a cluster; the ranks send their events over TCP to this process.
 *
 * CI: ZeRO-2 trains to the end across both nodes; ZeRO-3 (with offload, the t5-11b path) loses the
 * rank on node-b mid-training and resumes from the last checkpoint; a cancellation leaves no
 * process on either node. `npm run soak` (TUNEFLOW_SOAK=1) also kills a ZeRO-2 rank.
 */
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { train } from '../../activities/train';
import { parseConfig } from '../../lib/config';
import { TrainResult, type TrainInput } from '../../lib/steps';
import { MLFLOW_URI, demoFixture, splitFixture, tempDir } from '../helpers/environment';
import { metricHistory } from '../helpers/pipeline-outputs';
import { waitForPointer } from '../helpers/checkpoint-pointer';
import { nodeProcesses, startSshNodes, stopSshNodes, type SshNode, type SshNodes } from '../helpers/ssh-nodes';

const MAX_STEPS = 16;
const COLLECTIVE_TIMEOUT_SECONDS = 60;

let nodes: SshNodes;
let workDir: string;
let fixture: { data: string; model: string };
let split: { trainPath: string; validationPath: string };
const savedEnv = { ...process.env };

beforeAll(async () => {
  nodes = await startSshNodes();
  workDir = await tempDir('multi-node');
  fixture = await demoFixture(workDir, 400, 10);
  split = await splitFixture(path.join(workDir, 'split'));
  // What a GPU worker of a cluster has: ssh that reaches the nodes by name (here the test's
  // ssh config), and the address the nodes reach this worker at.
  process.env.PATH = `${nodes.binDir}:${process.env.PATH}`;
  process.env.TUNEFLOW_EVENTS_HOST = '127.0.0.1';
  process.env.DS_ACCELERATOR = 'cpu';
  process.env.TUNEFLOW_QUIET_PYTHON ??= '1';
});

afterAll(async () => {
  process.env = savedEnv;
  if (nodes) await stopSshNodes(nodes);
});

function trainInput(stage: 2 | 3, name: string): TrainInput {
  const config = parseConfig({
    name: `two-nodes-zero${stage}`,
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
    train: {
      epochs: 1,
      maxSteps: MAX_STEPS,
      perDeviceTrainBatchSize: 4,
      checkpointEverySteps: 4,
      loggingSteps: 2,
      deepspeed: { stage, offloadOptimizer: stage === 3, offloadParam: stage === 3 },
      hostfile: nodes.hostfile,
      masterAddr: nodes.nodes[0].address,
      collectiveTimeoutSeconds: COLLECTIVE_TIMEOUT_SECONDS,
    },
    // One folder both "nodes" see, as a shared mount would be on a cluster.
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  });
  return { pipelineId: `${name}-${Date.now()}`, config, ...split };
}

const isRank = (command: string) => command.includes('tuneflow_ml.train') && !command.includes('deepspeed.launcher');

/** Polls each node for its training ranks while `attempt` runs; the nodes that had one. */
function watchRanks(attempt: Promise<unknown>): Promise<Set<string>> {
  const seen = new Set<string>();
  let settled = false;
  void attempt.finally(() => (settled = true));
  return (async () => {
    while (!settled) {
      for (const node of nodes.nodes) {
        if ((await nodeProcesses(node)).some((p) => isRank(p.command))) seen.add(node.name);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return seen;
  })();
}

async function rankOf(node: SshNode): Promise<number> {
  const rank = (await nodeProcesses(node)).find((p) => isRank(p.command));
  if (!rank) throw new Error(`no training rank runs on ${node.name}`);
  return rank.pid;
}

/** The run's loss curve: one point per logged step, the steps rising without a gap or a restart. */
async function expectOneLossCurve(runId: string): Promise<void> {
  const steps = (await metricHistory(MLFLOW_URI, runId, 'train_loss')).map((p) => p.step);
  const distinct = [...new Set(steps)].sort((a, b) => a - b);
  expect(distinct).toEqual(Array.from({ length: MAX_STEPS / 2 }, (_, i) => (i + 1) * 2));
}

test('ZeRO-2 trains to the end across two nodes, one rank on each; loss and steps reach MLflow', async () => {
  const input = trainInput(2, 'two-nodes-zero2');
  const attempt = train(input);
  const ranksOn = watchRanks(attempt);
  const result = TrainResult.parse(await attempt);
  expect(await ranksOn).toEqual(new Set(['node-a', 'node-b']));
  expect(result.globalStep).toBe(MAX_STEPS);
  expect(result.resumedFrom).toBeNull();
  await expectOneLossCurve(result.mlflowRunId);
});

const KILLED_STAGES = process.env.TUNEFLOW_SOAK === '1' ? ([3, 2] as const) : ([3] as const);

test.each(KILLED_STAGES)('ZeRO-%i: the rank on node-b is killed; the step fails at once naming node-b; the retry resumes', async (stage) => {
  const input = trainInput(stage, `two-nodes-killed-zero${stage}`);
  const trainDir = path.join(workDir, 'runs', input.pipelineId, 'train');
  const attempt1 = train(input).then(
    () => null,
    (err: unknown) => err,
  );
  const pointer = await waitForPointer(path.join(trainDir, 'latest-checkpoint.json'), attempt1);
  const killedAt = Date.now();
  process.kill(await rankOf(nodes.nodes[1]), 'SIGKILL');
  const failure = await attempt1;
  const failedAfterSeconds = (Date.now() - killedAt) / 1000;

  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect(failure).toEqual(expect.objectContaining({ type: 'RankLost', nonRetryable: false }));
  expect((failure as Error).message).toMatch(/rank 1 \(pid \d+\) on node-b stopped without reporting an error/);
  expect(failedAfterSeconds).toBeLessThan(COLLECTIVE_TIMEOUT_SECONDS);
  console.log(`ZeRO-${stage}: rank on node-b SIGKILLed; the step failed after ${failedAfterSeconds.toFixed(1)} s: ${(failure as Error).message}`);
  // Nothing of attempt 1 is left on either node when the retry starts.
  for (const node of nodes.nodes) expect((await nodeProcesses(node)).filter((p) => isRank(p.command))).toEqual([]);

  const result = TrainResult.parse(await train(input));
  const resumedStep = Number(/checkpoint-(\d+)$/.exec(result.resumedFrom ?? '')?.[1]);
  expect(resumedStep).toBeGreaterThanOrEqual(pointer.globalStep);
  expect(result.globalStep).toBe(MAX_STEPS);
  await expectOneLossCurve(result.mlflowRunId);
});

test('a cancelled training leaves no process on either node', async () => {
  const input = trainInput(2, 'two-nodes-cancel');
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 20_000 });
  const attempt = env.run(train, input).then(
    () => null,
    (err: unknown) => err,
  );
  // Cancel once both nodes train.
  const deadline = Date.now() + 300_000;
  for (;;) {
    const running = await Promise.all(nodes.nodes.map(async (node) => (await nodeProcesses(node)).some((p) => isRank(p.command))));
    if (running.every(Boolean)) break;
    if (Date.now() > deadline) throw new Error('the ranks never ran on both nodes');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const cancelledAt = Date.now();
  env.cancel();
  expect(await attempt).toEqual(expect.objectContaining({ name: 'CancelledFailure' }));
  let left: { node: string; command: string }[] = [];
  while (Date.now() - cancelledAt < 15_000) {
    left = (await Promise.all(nodes.nodes.map(async (node) => (await nodeProcesses(node)).map((p) => ({ node: node.name, command: p.command }))))).flat();
    if (left.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.log(`cancel: every process gone from both nodes ${((Date.now() - cancelledAt) / 1000).toFixed(1)} s after the cancellation`);
  expect(left).toEqual([]);
});
