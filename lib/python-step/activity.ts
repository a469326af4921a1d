/**
 * What every Python-backed activity does, written once: validate the input, make the step's
 * folder, write the spec there, run the step, validate its result.
 */
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import type { z } from 'zod';
import { ensureStepDir, type StepName } from '../artifacts';
import type { StepInput } from '../steps';
import type { Launch } from './launch';
import { runPythonStep, type PythonStepOptions, type StepSidecar } from './runner';

export interface StepActivity<I extends z.ZodType<StepInput>, R extends z.ZodType> {
  /** The Python module `tuneflow_ml.<step>`, and the folder `<storage.root>/<pipeline id>/<step>`. */
  step: StepName;
  input: I;
  result: R;
  /** The step's spec, from the validated input and the step's folder. */
  spec: (input: z.infer<I>, outputDir: string) => unknown;
  /** The spec file's name in the step's folder, without `.json`; activities that run side by side each need their own. */
  specName?: string;
  /** Decided after the spec: the launcher's port must still be free when the step starts. */
  launch?: (input: z.infer<I>) => Promise<Launch>;
  graceSeconds?: PythonStepOptions['graceSeconds'];
  /** Work beside the step, made after the spec and closed when the step ends (train's checkpoint uploads). */
  sidecar?: (input: z.infer<I>, outputDir: string) => Promise<(StepSidecar & { close(): void }) | null>;
}

/** The step's validated result, or what `finish` makes of it (report checks what it logged). */
export function runStepActivity<I extends z.ZodType<StepInput>, R extends z.ZodType>(
  rawInput: z.infer<I>,
  activity: StepActivity<I, R>,
): Promise<z.infer<R>>;
export function runStepActivity<I extends z.ZodType<StepInput>, R extends z.ZodType, Out>(
  rawInput: z.infer<I>,
  activity: StepActivity<I, R> & { finish: (result: z.infer<R>, input: z.infer<I>) => Promise<Out> },
): Promise<Out>;
export async function runStepActivity<I extends z.ZodType<StepInput>, R extends z.ZodType, Out>(
  rawInput: z.infer<I>,
  activity: StepActivity<I, R> & { finish?: (result: z.infer<R>, input: z.infer<I>) => Promise<Out> },
): Promise<z.infer<R> | Out> {
  const input = activity.input.parse(rawInput);
  const outputDir = await ensureStepDir(input.config, input.pipelineId, activity.step);
  const spec = await activity.spec(input, outputDir);
  const sidecar = (await activity.sidecar?.(input, outputDir)) ?? undefined;
  let raw;
  try {
    raw = await runPythonStep({
      module: activity.step,
      launch: await activity.launch?.(input),
      spec,
      specPath: path.join(outputDir, `${activity.specName ?? 'spec'}.json`),
      graceSeconds: activity.graceSeconds,
      sidecar,
    });
  } finally {
    sidecar?.close();
  }
  const result = activity.result.parse({ ...raw, ...sidecar?.result?.() });
  return activity.finish ? activity.finish(result, input) : result;
}

/**
 * A step outside a pipeline (the memory plan, one text's summary): no step folder, so its spec
 * goes to a temporary folder, removed afterwards.
 */
export async function runStepInTempDir<R extends z.ZodType>(module: string, spec: unknown, result: R): Promise<z.infer<R>> {
  const dir = await mkdtemp(path.join(tmpdir(), `tuneflow-${module}-`));
  try {
    return result.parse(await runPythonStep({ module, spec, specPath: path.join(dir, 'spec.json') }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
