/**
 * One data set through both variants of the recipe, for real: the train activity with the recipe's
 * train.earlyStopping and with none (every configured step), then the evaluate activity on each
 * saved model (the best checkpoint), so both scores and the baselines come from the same rows and
 * scorer. The trained-through run's validation curve, from its MLflow run, shows where it flattened.
 */
import { performance } from 'node:perf_hooks';
import type { PipelineConfig } from '../../lib/config';
import { MlflowClient } from '../../lib/mlflow';
import type { Baselines } from '../../lib/steps';
import { train } from '../../activities/train';
import { evaluate } from '../../activities/evaluate';
import type { PreparedSet } from './data-sets';

/** A curve point is "flat" from the first evaluation within this share of the run's best. */
export const FLAT_SHARE = 0.98;

export interface CurvePoint {
  step: number;
  rougeL: number;
  loss: number | null;
}

export interface VariantFigures {
  /** Steps trained, and the steps the configured epochs make. */
  steps: number;
  configuredSteps: number;
  trainSeconds: number;
  /** The best checkpoint by validation ROUGE-L during training (the saved model). */
  best: { step: number; rougeL: number } | null;
  /** evaluate's ROUGE-L of the saved model on the evaluation rows. */
  rougeL: number;
  curve: CurvePoint[];
}

export interface EarlyFigures extends VariantFigures {
  stopped: boolean;
  stepsSaved: number;
}

export interface SetFigures {
  name: string;
  trainRows: number;
  validationRows: number;
  /** Rows evaluate scored (the baselines and both models) and rows each evaluation during training scored. */
  evaluateRows: number;
  evalSamples: number;
  capped: string | null;
  baselines: Baselines;
  through: VariantFigures;
  early: EarlyFigures;
  /** early.rougeL / through.rougeL: what early stopping kept of the trained-through quality. */
  ratio: number;
  /** The first step at which the trained-through curve came within FLAT_SHARE of its best. */
  flatFromStep: number | null;
}

/** The recipe's early stopping against the same recipe with every configured step. */
export async function compare(set: PreparedSet): Promise<SetFigures> {
  if (set.config.train.earlyStopping === null) throw new Error('the recipe has no train.earlyStopping to compare against training through');
  const early = await runVariant(set, set.config, 'early');
  const through = await runVariant(set, { ...set.config, train: { ...set.config.train, earlyStopping: null } }, 'through');
  if (early.stopping === null) throw new Error('the early-stopping run returned no earlyStopping result');
  const bestThrough = Math.max(...through.figures.curve.map((point) => point.rougeL));
  return {
    name: set.source.name,
    trainRows: set.trainRows,
    validationRows: set.validationRows,
    evaluateRows: through.evaluateRows,
    evalSamples: set.config.train.evalSamples,
    capped: set.capped,
    baselines: through.baselines,
    through: through.figures,
    early: { ...early.figures, stopped: early.stopping.stopped, stepsSaved: early.stopping.stepsSaved },
    ratio: early.figures.rougeL / through.figures.rougeL,
    flatFromStep: through.figures.curve.find((point) => point.rougeL >= FLAT_SHARE * bestThrough)?.step ?? null,
  };
}

async function runVariant(set: PreparedSet, config: PipelineConfig, variant: string) {
  const pipelineId = `${config.name}-${variant}-${Date.now()}`;
  const started = performance.now();
  const trained = await train({ pipelineId, config, trainPath: set.trainPath, validationPath: set.validationPath });
  const trainSeconds = (performance.now() - started) / 1000;
  const scored = await evaluate({
    pipelineId,
    config,
    modelDir: trained.modelDir,
    validationPath: set.validationPath,
    trainPath: set.trainPath,
    mlflowRunId: trained.mlflowRunId,
  });
  const best = trained.evaluations?.best ?? null;
  return {
    figures: {
      steps: trained.globalStep,
      configuredSteps: trained.earlyStopping?.configuredSteps ?? trained.globalStep,
      trainSeconds,
      best: best && { step: best.step, rougeL: best.rougeL },
      rougeL: scored.rouge.rougeL,
      curve: await validationCurve(config.mlflow.trackingUri, trained.mlflowRunId),
    },
    stopping: trained.earlyStopping,
    baselines: scored.baselines,
    evaluateRows: scored.numExamples,
  };
}

/** val_rougeL and val_loss by step, as the run logged them (one point per step: the last logged). */
async function validationCurve(trackingUri: string, runId: string): Promise<CurvePoint[]> {
  const mlflow = new MlflowClient(trackingUri);
  const [rouge, loss] = await Promise.all([mlflow.getMetricHistory(runId, 'val_rougeL'), mlflow.getMetricHistory(runId, 'val_loss')]);
  const lossAt = new Map(loss.map((point) => [point.step, point.value]));
  const byStep = new Map(rouge.map((point) => [point.step, { step: point.step, rougeL: point.value, loss: lossAt.get(point.step) ?? null }]));
  return [...byStep.values()];
}
