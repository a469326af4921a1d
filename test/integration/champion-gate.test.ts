/**
 * The register activity on the real MLflow server: the champion gate moves the `champion` alias
 * only for a better model, tags say why, a retried attempt makes no second version, and the
 * version and run carry their lineage. Each test uses its own registered model name.
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { register, REGISTER_TAGS } from '../../activities/register';
import { PipelineConfig } from '../../lib/config';
import { MlflowClient } from '../../lib/mlflow';
import type { ChampionScore, RegisterInput } from '../../lib/steps';
import { MLFLOW_URI, tempDir } from '../helpers/environment';
import { trainedModel, uniqueName } from '../helpers/register-input';

const EXPERIMENT = 'tuneflow-tests';
const mlflow = new MlflowClient(MLFLOW_URI);
let datasets: RegisterInput['datasets'];

beforeAll(async () => {
  // register only fingerprints the split's files, so any bytes stand in for Parquet.
  const dir = await tempDir('champion-gate');
  datasets = { train: { path: path.join(dir, 'train.parquet'), rows: 9 }, validation: { path: path.join(dir, 'validation.parquet'), rows: 1 } };
  await writeFile(datasets.train.path, 'train rows');
  await writeFile(datasets.validation.path, 'validation rows');
});

function scores(rougeL: number) {
  return { rouge1: rougeL + 0.1, rouge2: rougeL - 0.1, rougeL, rougeLsum: rougeL };
}

/** evaluate's baselines: lead-8 at 0.2 ROUGE-L, the strongest; the most common headline at 0.1. */
const BASELINES: RegisterInput['baselines'] = {
  lead: { words: 8, rouge: scores(0.2), chosenOn: { trainRows: 1000, maxWords: 40, trainRougeL: 0.21 } },
  common: { headline: 'Great camera', rouge: scores(0.1) },
  zeroShot: { model: 'tiny-t5', rouge: null, skipped: 'random weights' },
  best: { name: 'lead', rougeL: 0.2 },
};

async function pipelineInput(
  modelName: string,
  rougeL: number,
  champion: ChampionScore | null,
  options: { minDelta?: number; mustBeat?: PipelineConfig['register']['mustBeat']; review?: NonNullable<RegisterInput['gate']>['review'] } = {},
): Promise<RegisterInput> {
  const workflowId = uniqueName('gate-workflow');
  return {
    pipelineId: workflowId,
    config: PipelineConfig.parse({
      register: { modelName, minDelta: options.minDelta ?? 0, mustBeat: options.mustBeat },
      mlflow: { trackingUri: MLFLOW_URI, experiment: EXPERIMENT },
    }),
    workflowId,
    workflowRunId: `run-of-${workflowId}`,
    ...(await trainedModel(MLFLOW_URI, EXPERIMENT, 'champion-gate-test')),
    rouge: scores(rougeL),
    baselines: BASELINES,
    datasets,
    gate: { champion, review: options.review ?? null },
  };
}

async function versionTags(name: string, version: string): Promise<Record<string, string>> {
  const mv = await mlflow.getModelVersion(name, version);
  return Object.fromEntries(mv.tags.map((t) => [t.key, t.value]));
}

const championOf = (version: string, rougeL: number): ChampionScore => ({ version, rouge: scores(rougeL) });

test('first version becomes champion; a worse one challenger; a better one takes the alias', async () => {
  const name = uniqueName('gate-sequence');

  const first = await register(await pipelineInput(name, 0.3, null));
  expect(first.gate).toEqual(expect.objectContaining({ decision: 'champion', decidedBy: 'rule', champion: null, delta: null }));
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(first.version);

  const second = await register(await pipelineInput(name, 0.25, championOf(first.version, 0.3)));
  expect(second.gate?.decision).toBe('challenger');
  expect(second.gate?.reason).toContain('does not beat the champion');
  expect(second.gate?.delta).toBeCloseTo(-0.05, 6);
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(first.version);
  expect(await mlflow.aliasVersion(name, 'challenger')).toBe(second.version);
  expect(await versionTags(name, second.version)).toEqual(
    expect.objectContaining({
      [REGISTER_TAGS.decision]: 'challenger',
      [REGISTER_TAGS.decidedBy]: 'rule',
      [REGISTER_TAGS.rougeL]: '0.2500',
      [REGISTER_TAGS.championRougeL]: '0.3000',
      [REGISTER_TAGS.championVersion]: first.version,
      [REGISTER_TAGS.delta]: '-0.0500',
    }),
  );

  const third = await register(await pipelineInput(name, 0.35, championOf(first.version, 0.3)));
  expect(third.gate?.decision).toBe('champion');
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(third.version);
  expect((await versionTags(name, third.version))[REGISTER_TAGS.decision]).toBe('champion');

  // register.minDelta: better by less than the margin is not enough.
  const fourth = await register(await pipelineInput(name, 0.36, championOf(third.version, 0.35), { minDelta: 0.05 }));
  expect(fourth.gate?.decision).toBe('challenger');
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(third.version);
});

test('a model below the strongest baseline (lead-N here) is registered rejected with the reason, never champion, with or without a champion', async () => {
  const name = uniqueName('gate-floor');
  const first = await register(await pipelineInput(name, 0.15, null));
  expect(first.gate).toEqual(expect.objectContaining({ decision: 'rejected', decidedBy: 'rule', champion: null }));
  expect(first.gate.reason).toContain('does not beat the strongest baseline, lead-8');
  expect(await mlflow.aliasVersion(name, 'champion')).toBeNull();
  expect(await versionTags(name, first.version)).toEqual(
    expect.objectContaining({
      [REGISTER_TAGS.decision]: 'rejected',
      [REGISTER_TAGS.decisionReason]: first.gate.reason,
      [REGISTER_TAGS.mustBeat]: 'best',
      [REGISTER_TAGS.leadRougeL]: '0.2000',
    }),
  );

  // Above the floor: champion. Then one far better than that champion but below lead-8: rejected,
  // the champion alias stays, and no challenger alias moves to it.
  const second = await register(await pipelineInput(name, 0.3, null));
  expect(second.gate.decision).toBe('champion');
  const third = await register(await pipelineInput(name, 0.19, championOf(second.version, 0.05)));
  expect(third.gate.decision).toBe('rejected');
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(second.version);
  expect(await mlflow.aliasVersion(name, 'challenger')).toBeNull();
  // register.mustBeat: none lifts the floor.
  expect((await register(await pipelineInput(name, 0.19, championOf(second.version, 0.3), { mustBeat: 'none' }))).gate.decision).toBe('challenger');
});

test('a person decides a borderline case; a champion that moved after evaluate is never replaced unchecked', async () => {
  const name = uniqueName('gate-review');
  const first = await register(await pipelineInput(name, 0.3, null));

  const promoted = await register(
    await pipelineInput(name, 0.29, championOf(first.version, 0.3), { review: { decision: 'promote', decidedBy: 'signal' } }),
  );
  expect(promoted.gate).toEqual(expect.objectContaining({ decision: 'champion', decidedBy: 'signal' }));
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(promoted.version);
  expect((await versionTags(name, promoted.version))[REGISTER_TAGS.decidedBy]).toBe('signal');

  // Scored against v1, but v2 is champion now: much better than v1 proves nothing about v2.
  const stale = await register(await pipelineInput(name, 0.9, championOf(first.version, 0.3)));
  expect(stale.gate?.decision).toBe('challenger');
  expect(stale.gate?.reason).toContain(`moved from v${first.version} to v${promoted.version}`);
  expect(await mlflow.aliasVersion(name, 'champion')).toBe(promoted.version);
});

test('register run twice with the same input makes one version, tagged with its lineage', async () => {
  const name = uniqueName('gate-idempotent');
  const input = await pipelineInput(name, 0.3, null);

  const first = await register(input);
  const retried = await register(input);
  expect(first.created).toBe(true);
  expect(retried).toEqual({ ...first, created: false });
  expect(await mlflow.searchModelVersions(`name = '${name}'`)).toHaveLength(1);

  const lineage = {
    [REGISTER_TAGS.workflowId]: input.workflowId,
    [REGISTER_TAGS.workflowRunId]: input.workflowRunId,
    [REGISTER_TAGS.mlflowRunId]: input.mlflowRunId,
    [REGISTER_TAGS.baseModel]: input.config.model.nameOrPath,
    [REGISTER_TAGS.configHash]: expect.stringMatching(/^[0-9a-f]{64}$/),
    [REGISTER_TAGS.gitSha]: expect.stringMatching(/^([0-9a-f]{40}|unknown)$/),
    [REGISTER_TAGS.temporalUrl]: expect.stringContaining(`/workflows/${input.workflowId}/${input.workflowRunId}`),
  };
  expect(await versionTags(name, first.version)).toEqual(expect.objectContaining(lineage));
  const run = await mlflow.getRun(input.mlflowRunId);
  expect(Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]))).toEqual(expect.objectContaining(lineage));
  // The split's files as dataset inputs, fingerprinted by content; the retry added none.
  const inputs = run.inputs.dataset_inputs.map((i) => ({ context: i.tags.find((t) => t.key === 'mlflow.data.context')?.value, ...i.dataset }));
  expect(inputs).toHaveLength(2);
  expect(inputs).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ context: 'training', name: `${input.pipelineId}-train`, digest: createHash('sha256').update('train rows').digest('hex').slice(0, 32) }),
      expect.objectContaining({ context: 'validation', source: JSON.stringify({ uri: datasets.validation.path }) }),
    ]),
  );
});
