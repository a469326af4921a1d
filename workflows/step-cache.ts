/**
 * The step cache as the pipeline uses it (`cache: true`): a step whose key (activities/step-cache.ts)
 * matches a finished step's record is not run; its recorded result stands in, and the progress
 * record says which pipeline it came from. Without `cache: true` nothing is looked up or recorded.
 */
import type { PipelineConfig } from '../lib/config';
import type { PipelineProgress, PipelineStep } from '../lib/pipeline';
import type { CacheableStep } from '../lib/steps';
import { light } from './activity-options';

export function stepCache(base: { pipelineId: string; config: PipelineConfig }, progress: PipelineProgress) {
  /** `reusable` says whether a result may be reused (a failed report outcome may not). */
  return async function cached<R>(step: CacheableStep, inputs: unknown, run: () => Promise<R>, reusable: (result: R) => boolean = () => true): Promise<R> {
    if (!base.config.cache) return run();
    const { key, hit } = await light.lookupStepCache.executeWithOptions({ summary: `${step}: look for a finished step to reuse` }, [{ ...base, step, inputs }]);
    if (hit) {
      if (step in progress.steps) progress.steps[step as PipelineStep].cachedFrom = hit.pipelineId;
      // The record was made by this code version (the key says so) from this step's own result.
      return hit.result as R;
    }
    const result = await run();
    if (reusable(result)) await light.recordStepCache.executeWithOptions({ summary: `${step}: record for reuse` }, [{ ...base, step, key, result }]);
    return result;
  };
}
