/**
 * Contracts of the preflight step: every check a pipeline can make before it holds a GPU, each
 * with its outcome, so that a person reads all the problems of a run at once.
 */
import { z } from 'zod';
import { PlanResult } from './train';

export const PREFLIGHT_CHECKS = ['input', 'model', 'mlflow', 'storage', 'gpuWorkers'] as const;
export const PreflightCheckName = z.enum(PREFLIGHT_CHECKS);
export type PreflightCheckName = z.infer<typeof PreflightCheckName>;

export const PreflightCheck = z.object({
  name: PreflightCheckName,
  state: z.enum(['passed', 'failed', 'skipped']),
  /** What was found: the files and columns, the plan's figures, the free space, the failure's message. */
  detail: z.string(),
  /** The failure type of a failed check (InvalidData, InvalidConfig, MlflowUnavailable...). */
  failureType: z.string().nullable(),
  /** False where a retry of the step could succeed (a worker fault), true for the rest. */
  final: z.boolean(),
  durationMs: z.number().nonnegative(),
});
export type PreflightCheck = z.infer<typeof PreflightCheck>;

export const PreflightResult = z.object({
  checks: z.array(PreflightCheck),
  /** The memory plan of the training config (the `model` check makes it). */
  plan: PlanResult,
});
export type PreflightResult = z.infer<typeof PreflightResult>;
