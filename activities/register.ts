/**
 * register: a model version in the MLflow registry from the run's logged model, with its lineage,
 * and the champion gate (lib/gate.ts): a version that does not beat register.mustBeat's baseline
 * is `rejected` (a tag, no alias); otherwise it takes the `champion` alias only when it beats the
 * champion evaluate scored on the same rows, and becomes `challenger` when it does not.
 *
 * Idempotent: the version carries the workflow id as a tag, and a retried attempt (a crash after
 * MLflow answered but before the activity returned) or a create whose reply was lost finds that
 * version instead of making another. Tags and aliases are set by key, so setting them again
 * changes nothing.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { execa } from 'execa';
import { RegisterInput, RegisterResult } from '../lib/steps';
import { filterString, MlflowClient, type MlflowDatasetInput, type ModelVersion } from '../lib/mlflow';
import { REPO_ROOT } from '../lib/artifacts';
import { InvalidDataError } from '../lib/failures';
import { GATE_ALIASES, decideGate, proposeGate } from '../lib/gate';
import { workflowUrl } from '../lib/temporal-settings';

export const REGISTER_TAGS = {
  workflowId: 'tuneflow.workflow_id',
  workflowRunId: 'tuneflow.workflow_run_id',
  temporalUrl: 'tuneflow.temporal_url',
  mlflowRunId: 'tuneflow.mlflow_run_id',
  baseModel: 'tuneflow.base_model',
  configHash: 'tuneflow.config_hash',
  gitSha: 'tuneflow.git_sha',
  rougeL: 'tuneflow.rougeL',
  rouge1: 'tuneflow.rouge1',
  decision: 'tuneflow.decision',
  decisionReason: 'tuneflow.decision_reason',
  decidedBy: 'tuneflow.decided_by',
  championVersion: 'tuneflow.champion_version',
  championRougeL: 'tuneflow.champion_rougeL',
  delta: 'tuneflow.delta',
  mustBeat: 'tuneflow.must_beat',
  leadRougeL: 'tuneflow.baseline_lead_rougeL',
  commonRougeL: 'tuneflow.baseline_common_rougeL',
} as const;

export async function register(rawInput: RegisterInput): Promise<RegisterResult> {
  const input = RegisterInput.parse(rawInput);
  const mlflow = new MlflowClient(input.config.mlflow.trackingUri);
  const modelName = input.config.register.modelName;

  await mlflow.ensureRegisteredModel(
    modelName,
    `T5 review-headline summarizer fine-tuned by tuneflow (config "${input.config.name}").`,
  );
  const lineage = await lineageTags(input);
  // Lineage on the run too: the run is what one finds from an experiment, the version from the registry.
  for (const [key, value] of Object.entries(lineage)) await mlflow.setRunTag(input.mlflowRunId, key, value);
  await mlflow.logInputs(input.mlflowRunId, await datasetInputs(input));

  const { version, created } = await ensureVersion(mlflow, input, lineage);
  const gate = await applyGate(mlflow, input, input.gate, version.version);
  return { modelName, version: version.version, created, gate };
}

/**
 * This workflow's version: the one an earlier attempt made, else a new one. A create can fail
 * after MLflow committed it (the reply lost to a reset or a timeout), and the client never repeats
 * a create, so after any failed create the version is looked up again before the error counts.
 */
async function ensureVersion(
  mlflow: MlflowClient,
  input: RegisterInput,
  lineage: Record<string, string>,
): Promise<{ version: ModelVersion; created: boolean }> {
  const existing = await versionOfWorkflow(mlflow, input);
  if (existing) return { version: existing, created: false };
  try {
    return { version: await createVersion(mlflow, input, lineage), created: true };
  } catch (error) {
    const committed = await versionOfWorkflow(mlflow, input);
    if (committed) return { version: committed, created: true };
    throw error;
  }
}

/** The version carrying this workflow's id as its tag, if any. */
async function versionOfWorkflow(mlflow: MlflowClient, input: RegisterInput): Promise<ModelVersion | undefined> {
  const [found] = await mlflow.searchModelVersions(
    `name = ${filterString(input.config.register.modelName)} and tags.\`${REGISTER_TAGS.workflowId}\` = ${filterString(input.workflowId)}`,
  );
  return found;
}

async function createVersion(mlflow: MlflowClient, input: RegisterInput, lineage: Record<string, string>): Promise<ModelVersion> {
  const modelId = input.modelUri.replace(/^models:\//, '');
  const loggedModel = await mlflow.getLoggedModel(modelId);
  return mlflow.createModelVersion({
    name: input.config.register.modelName,
    source: loggedModel.info.artifact_uri,
    runId: input.mlflowRunId,
    modelId,
    tags: {
      ...lineage,
      [REGISTER_TAGS.rougeL]: input.rouge.rougeL.toFixed(4),
      [REGISTER_TAGS.rouge1]: input.rouge.rouge1.toFixed(4),
    },
  });
}

/**
 * Decides, writes the decision, both scores and the floor's baseline as version tags, then moves
 * the alias (none for a rejected version).
 */
async function applyGate(
  mlflow: MlflowClient,
  input: RegisterInput,
  gate: RegisterInput['gate'],
  version: string,
): Promise<RegisterResult['gate']> {
  const modelName = input.config.register.modelName;
  const evaluated = gate.champion;
  const current = await mlflow.aliasVersion(modelName, GATE_ALIASES.champion);
  const rougeL = input.rouge.rougeL;
  const proposal = proposeGate(rougeL, evaluated?.rouge.rougeL ?? null, input.baselines, input.config.register);
  // The champion evaluate scored must still be the champion: otherwise (another pipeline promoted
  // its model meanwhile) this version was never compared with the new one, and must not replace it.
  // A retry that finds this very version promoted by its earlier attempt decides as that attempt did.
  // A version below the quality floor is rejected whoever is champion.
  const moved = proposal.decision !== 'rejected' && current !== version && current !== (evaluated?.version ?? null);
  const decision = moved
    ? {
        ...proposal,
        decision: 'challenger' as const,
        decidedBy: 'rule' as const,
        reason: `the champion moved from ${label(evaluated?.version ?? null)} to ${label(current)} after evaluate scored it; this version was not compared with ${label(current)}: rerun the pipeline to compare`,
      }
    : decideGate(proposal, gate.review);

  const tags: Record<string, string> = {
    [REGISTER_TAGS.decision]: decision.decision,
    [REGISTER_TAGS.decisionReason]: decision.reason,
    [REGISTER_TAGS.decidedBy]: decision.decidedBy,
    [REGISTER_TAGS.rougeL]: rougeL.toFixed(4),
    [REGISTER_TAGS.mustBeat]: input.config.register.mustBeat,
    [REGISTER_TAGS.leadRougeL]: input.baselines.lead.rouge.rougeL.toFixed(4),
    [REGISTER_TAGS.commonRougeL]: input.baselines.common.rouge.rougeL.toFixed(4),
  };
  if (evaluated) {
    tags[REGISTER_TAGS.championVersion] = evaluated.version;
    tags[REGISTER_TAGS.championRougeL] = evaluated.rouge.rougeL.toFixed(4);
    tags[REGISTER_TAGS.delta] = (rougeL - evaluated.rouge.rougeL).toFixed(4);
  }
  for (const [key, value] of Object.entries(tags)) await mlflow.setModelVersionTag(modelName, version, key, value);
  // The alias last: a version is never champion without the tags that say why.
  if (decision.decision !== 'rejected') await mlflow.setRegisteredModelAlias(modelName, GATE_ALIASES[decision.decision], version);

  return {
    decision: decision.decision,
    reason: decision.reason,
    decidedBy: decision.decidedBy,
    rougeL,
    champion: evaluated ? { version: evaluated.version, rougeL: evaluated.rouge.rougeL } : null,
    delta: decision.delta,
  };
}

function label(version: string | null): string {
  return version === null ? 'none' : `v${version}`;
}

/** Where the version came from: config, code, base model, and the workflow that made it. */
async function lineageTags(input: RegisterInput): Promise<Record<string, string>> {
  return {
    [REGISTER_TAGS.workflowId]: input.workflowId,
    [REGISTER_TAGS.workflowRunId]: input.workflowRunId,
    [REGISTER_TAGS.temporalUrl]: workflowUrl(input.workflowId, input.workflowRunId),
    [REGISTER_TAGS.mlflowRunId]: input.mlflowRunId,
    [REGISTER_TAGS.baseModel]: input.config.model.nameOrPath,
    // The parsed config's keys follow the schema's order, so its plain JSON is already canonical;
    // hashed as is, not with configHash (which sorts keys), so the tag keeps the value that the
    // versions registered so far carry.
    [REGISTER_TAGS.configHash]: createHash('sha256').update(JSON.stringify(input.config)).digest('hex'),
    [REGISTER_TAGS.gitSha]: await gitSha(),
  };
}

/**
 * train and validation as the run's dataset inputs, fingerprinted by the sha256 of each Parquet
 * file: in full in the profile, its first 32 hex digits as the digest (MLflow caps it at 36).
 */
async function datasetInputs(input: RegisterInput): Promise<MlflowDatasetInput[]> {
  const sides = [
    ['train', 'training', input.datasets.train],
    ['validation', 'validation', input.datasets.validation],
  ] as const;
  return Promise.all(
    sides.map(async ([name, context, { path, rows }]) => {
      const sha256 = await fileSha256(path);
      return {
        name: `${input.pipelineId}-${name}`,
        digest: sha256.slice(0, 32),
        source_type: 'local',
        source: JSON.stringify({ uri: path }),
        profile: JSON.stringify({ num_rows: rows, sha256 }),
        context,
      };
    }),
  );
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new InvalidDataError(
      path,
      `cannot be read to fingerprint it for the run's dataset inputs (${(err as Error).message})`,
      "The split step's output is gone: rerun the pipeline.",
    );
  }
  return hash.digest('hex');
}

let cachedGitSha: Promise<string> | undefined;

/** The worker's code version; 'unknown' outside a git checkout (an installed package, a container). */
function gitSha(): Promise<string> {
  cachedGitSha ??= execa('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT }).then(
    ({ stdout }) => stdout.trim(),
    () => 'unknown',
  );
  return cachedGitSha;
}
