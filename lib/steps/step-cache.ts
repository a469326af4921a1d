/**
 * Contracts of the step cache (`cache: true`): a step whose inputs' content, config and code match
 * a finished step's record, from any pipeline on the same storage.root, reuses that step's result
 * (and so its artifacts) instead of running again (activities/step-cache.ts, workflows/step-cache.ts).
 */
import { z } from 'zod';
import { StepInput } from './common';

export const CacheableStep = z.enum(['clean', 'split', 'train', 'evaluate', 'register', 'summarize', 'report']);
export type CacheableStep = z.infer<typeof CacheableStep>;

export const StepCacheLookup = StepInput.extend({
  step: CacheableStep,
  /** What the step reads: its artifacts are fingerprinted by content, anything else taken as it is. */
  inputs: z.unknown(),
});
export type StepCacheLookup = z.infer<typeof StepCacheLookup>;

export const StepCacheHit = z.object({ pipelineId: z.string().min(1), recordedAt: z.string(), result: z.unknown() });
export type StepCacheHit = z.infer<typeof StepCacheHit>;

export const StepCacheAnswer = z.object({
  /** sha256 of the step, the code version, the config it depends on and its inputs' fingerprints. */
  key: z.string().regex(/^[0-9a-f]{64}$/),
  hit: StepCacheHit.nullable(),
});
export type StepCacheAnswer = z.infer<typeof StepCacheAnswer>;

export const StepCacheEntry = StepInput.extend({ step: CacheableStep, key: StepCacheAnswer.shape.key, result: z.unknown() });
export type StepCacheEntry = z.infer<typeof StepCacheEntry>;
