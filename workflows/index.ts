/** Workflow bundle entry: every workflow the workers run. */
export { fineTunePipeline } from './finetune-pipeline';
export { bulkSummarize } from './bulk-summarize';
