/**
 * bench/quality's data sets and how each is prepared: the demo generator's reviews at several seeds
 * and sizes, and any Amazon-format TSV or CSV file given with --data; each cleaned and split by
 * tuneflow's own steps with the recipe's data and split settings (as bench/train/run.ts does), with
 * a tiny T5 built from it as the demo builds one, unless a base model is given.
 */
import * as path from 'node:path';
import { execa } from 'execa';
import { parseConfig, type PipelineConfig } from '../../lib/config';
import { REPO_ROOT } from '../../lib/artifacts';
import { pythonExecutable } from '../../lib/python-step';
import { clean } from '../../activities/clean';
import { split } from '../../activities/split';
import { writeReviews } from '../../scripts/generate-reviews';

/** The demo's catalog size (scripts/demo.sh). */
const DEMO_PRODUCTS = 60;

export type DataSource = { name: string; kind: 'generated'; rows: number; seed: number } | { name: string; kind: 'file'; file: string };

/** Every seed with every size, then the given files. */
export function dataSources(seeds: number[], sizes: number[], files: string[]): DataSource[] {
  const generated = seeds.flatMap((seed) => sizes.map((rows): DataSource => ({ name: `demo seed ${seed}, ${rows} rows`, kind: 'generated', rows, seed })));
  return [...generated, ...files.map((file): DataSource => ({ name: path.basename(file), kind: 'file', file: path.resolve(file) }))];
}

export interface PreparedSet {
  source: DataSource;
  /** The recipe for this set: its data, its model, evaluation rows capped at the validation split. */
  config: PipelineConfig;
  trainPath: string;
  validationPath: string;
  trainRows: number;
  validationRows: number;
  /** Set when the recipe asked to score more validation rows than the split holds. */
  capped: string | null;
}

/**
 * Writes (or finds) the set's file, builds its tiny T5 when `baseModel` is null, cleans and splits
 * it under `dir`, and returns the recipe fitted to it.
 */
export async function prepare(source: DataSource, recipe: PipelineConfig, baseModel: string | null, dir: string): Promise<PreparedSet> {
  const slug = source.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase();
  const file = source.kind === 'file' ? source.file : path.join(dir, 'data', `${slug}.tsv.gz`);
  if (source.kind === 'generated') await writeReviews(file, { rows: source.rows, products: DEMO_PRODUCTS, seed: source.seed });
  const model = baseModel ?? path.join(dir, 'models', slug);
  if (baseModel === null) {
    await execa(pythonExecutable(), ['-m', 'tuneflow_ml.tiny_model', '--data', file, '--out', model, '--force'], {
      env: { PYTHONPATH: path.join(REPO_ROOT, 'python') },
    });
  }
  const fitted = (overrides: { evaluate?: Partial<PipelineConfig['evaluate']>; train?: Partial<PipelineConfig['train']> }) =>
    parseConfig({
      ...recipe,
      name: `bench-quality-${slug}`,
      // A given file may hold any category: keep every row of it; the demo's reviews keep the recipe's filter.
      data: { ...recipe.data, input: file, format: 'auto', ...(source.kind === 'file' ? { category: null } : {}) },
      model: { ...recipe.model, nameOrPath: model },
      evaluate: { ...recipe.evaluate, ...overrides.evaluate },
      train: { ...recipe.train, ...overrides.train },
      storage: { ...recipe.storage, root: path.join(dir, 'runs') },
      mlflow: { ...recipe.mlflow, experiment: 'tuneflow-bench-quality' },
      // A model name nothing registers: evaluate finds no champion to score beside the model.
      register: { ...recipe.register, modelName: 'tuneflow-bench-quality' },
    });
  // Split checks that the split holds the evaluation rows asked for; here they are fitted to it below.
  const splitConfig = fitted({ evaluate: { maxSamples: null }, train: { evalEverySteps: null, earlyStopping: null } });
  const pipelineId = `quality-${slug}-data`;
  const cleaned = await clean({ pipelineId, config: splitConfig });
  const sides = await split({ pipelineId, config: splitConfig, cleanedPath: cleaned.cleanedPath });

  const rows = sides.validationRows;
  const maxSamples = recipe.evaluate.maxSamples === null ? null : Math.min(recipe.evaluate.maxSamples, rows);
  const evalSamples = Math.min(recipe.train.evalSamples, rows);
  const cappedFields = [
    ...(maxSamples !== recipe.evaluate.maxSamples ? [`evaluate.maxSamples ${recipe.evaluate.maxSamples}`] : []),
    ...(evalSamples !== recipe.train.evalSamples ? [`train.evalSamples ${recipe.train.evalSamples}`] : []),
  ];
  const capped = cappedFields.length > 0 ? `${cappedFields.join(' and ')} capped at the ${rows} validation rows` : null;
  return {
    source,
    config: fitted({ evaluate: { maxSamples }, train: { evalSamples } }),
    trainPath: sides.trainPath,
    validationPath: sides.validationPath,
    trainRows: sides.trainRows,
    validationRows: rows,
    capped,
  };
}
