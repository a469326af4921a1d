/**
 * bench/quality: does early stopping keep the quality of training through? The recipe (the
 * demo's, configs/demo.yaml) with its train.earlyStopping against the same recipe trained through
 * every configured step (earlyStopping: null), both for real with the train and evaluate
 * activities, on several data sets: the demo generator at three seeds and two sizes, and each
 * Amazon-format TSV or CSV given with --data. Per set: the baselines, the best trained-through
 * validation ROUGE-L and its step, the early-stopped one and its step, steps saved, and the ratio
 * of evaluate's ROUGE-L (early / trained through) against the 0.98 target.
 *
 *   npm run bench:quality [-- --quick] [-- --data reviews.tsv.gz --data more.csv]
 *
 * Needs the local MLflow (`npm run bench:quality` starts it). Figures also go to <dir>/figures.json.
 */
import * as path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { REPO_ROOT } from '../../lib/artifacts';
import { loadConfigFile } from '../../lib/config-file';
import { compare, type SetFigures } from './compare';
import { dataSources, prepare } from './data-sets';
import { setBlock, summaryTable } from './table';

const SEEDS = [7, 11, 23];
const SIZES = [1500, 3000];

function positiveIntegers(value: string): number[] {
  const numbers = value.split(',').map(Number);
  if (!numbers.every((n) => Number.isInteger(n) && n > 0)) throw new InvalidArgumentError('expected positive integers, comma-separated');
  return numbers;
}

async function main(): Promise<void> {
  const options = new Command('bench:quality')
    .description('Early stopping against training through, on several data sets')
    .option('--data <file>', 'an Amazon-format TSV (.tsv, .tsv.gz) or a text,summary CSV; repeatable', (file: string, files: string[]) => [...files, file], [])
    .option('--quick', 'one demo set (the first seed and size) instead of every seed and size', false)
    .option('--seeds <list>', 'demo generator seeds', positiveIntegers, SEEDS)
    .option('--sizes <list>', 'demo data set sizes in rows', positiveIntegers, SIZES)
    .option('--config <file>', 'the recipe', path.join(REPO_ROOT, 'configs', 'demo.yaml'))
    .option('--epochs <n>', "train this many epochs instead of the recipe's (where the curve flattens, early stopping has steps to save)", (v: string) => positiveIntegers(v)[0])
    .option('--model <nameOrPath>', 'a base model (scored zero-shot when pretrained) instead of a tiny T5 built from each set')
    .option('--dir <path>', 'work folder: data, models, runs, figures.json', path.join(REPO_ROOT, 'state', 'bench', 'quality'))
    .parse()
    .opts<{ data: string[]; quick: boolean; seeds: number[]; sizes: number[]; config: string; epochs?: number; model?: string; dir: string }>();

  const configured = await loadConfigFile(options.config);
  const recipe = options.epochs === undefined ? configured : { ...configured, train: { ...configured.train, epochs: options.epochs } };
  const dir = path.resolve(options.dir);
  await mkdir(dir, { recursive: true });
  const sources = options.quick
    ? dataSources(options.seeds.slice(0, 1), [Math.min(...options.sizes)], options.data)
    : dataSources(options.seeds, options.sizes, options.data);
  const stopping = recipe.train.earlyStopping;
  console.log(
    `recipe ${options.config}: ${recipe.train.epochs} epochs, batch ${recipe.train.perDeviceTrainBatchSize}, learning rate ${recipe.train.learningRate}, ` +
      `evaluations every ${recipe.train.evalEverySteps} steps on ${recipe.train.evalSamples} rows, early stopping ${JSON.stringify(stopping)}; ` +
      `${sources.length} data set(s): ${sources.map((source) => source.name).join('; ')}\n`,
  );

  const figures: SetFigures[] = [];
  for (const source of sources) {
    const set = await prepare(source, recipe, options.model ?? null, dir);
    figures.push(await compare(set));
    console.log(`${setBlock(figures.at(-1)!)}\n`);
    await writeFile(path.join(dir, 'figures.json'), JSON.stringify({ config: options.config, recipe: recipe.train, sets: figures }, null, 2) + '\n');
  }
  console.log(summaryTable(figures));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
