/**
 * Finding pipelines through Temporal's visibility store, by the search attributes the pipeline
 * upserts as it advances (lib/pipeline.ts SEARCH_ATTRIBUTES): the same query works in the
 * Temporal UI's search box, e.g. `WorkflowType = "fineTunePipeline" AND TuneflowStep = "train"`.
 */
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { PipelineStep, SEARCH_ATTRIBUTES, modelSearchValue } from '../lib/pipeline';
import { fineTunePipeline } from '../workflows/finetune-pipeline';

export const EXECUTION_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'TimedOut', 'ContinuedAsNew'] as const;

/** A value inside a visibility-query string literal; quotes would end the literal. */
const QueryValue = z.string().min(1).regex(/^[^"'\\]+$/, 'must not contain quotes or backslashes');

export const PipelineFilter = z
  .object({
    /** The step the pipeline is at (or stopped at): its TuneflowStep. */
    step: PipelineStep.optional(),
    status: z.enum(EXECUTION_STATUSES).optional(),
    /** config.model.nameOrPath, matched by its last segment (TuneflowModel: lib/pipeline.ts modelSearchValue). */
    model: QueryValue.optional(),
    limit: z.number().int().positive().default(50),
  })
  .strict();
export type PipelineFilter = z.infer<typeof PipelineFilter>;
export type PipelineFilterInput = z.input<typeof PipelineFilter>;

export const PipelineListEntry = z.object({
  pipelineId: z.string(),
  runId: z.string(),
  status: z.string(),
  /** As the pipeline last upserted it: a step name, or a marker the workflow sets when it ends. */
  step: z.string().nullable(),
  model: z.string().nullable(),
  rougeL: z.number().nullable(),
  startedAt: z.string(),
  closedAt: z.string().nullable(),
});
export type PipelineListEntry = z.infer<typeof PipelineListEntry>;

export function visibilityQuery(filter: PipelineFilter): string {
  const clauses = [`WorkflowType = "${fineTunePipeline.name}"`];
  if (filter.step) clauses.push(`${SEARCH_ATTRIBUTES.step.name} = "${filter.step}"`);
  if (filter.model) clauses.push(`${SEARCH_ATTRIBUTES.model.name} = "${modelSearchValue(filter.model)}"`);
  if (filter.status) clauses.push(`ExecutionStatus = "${filter.status}"`);
  return clauses.join(' AND ');
}

/** Newest first, at most `filter.limit`. Visibility lags the workflows by a moment. */
export async function listPipelines(client: Client, filter: PipelineFilter): Promise<PipelineListEntry[]> {
  const entries: PipelineListEntry[] = [];
  for await (const info of client.workflow.list({ query: visibilityQuery(filter) })) {
    const attrs = info.typedSearchAttributes;
    entries.push(
      PipelineListEntry.parse({
        pipelineId: info.workflowId,
        runId: info.runId,
        status: info.status.name,
        step: attrs.get(SEARCH_ATTRIBUTES.step) ?? null,
        model: attrs.get(SEARCH_ATTRIBUTES.model) ?? null,
        rougeL: attrs.get(SEARCH_ATTRIBUTES.rougeL) ?? null,
        startedAt: info.startTime.toISOString(),
        closedAt: info.closeTime?.toISOString() ?? null,
      }),
    );
    if (entries.length >= filter.limit) break;
  }
  return entries;
}
