/** Task-queue names: the one place workers and workflows agree on where work goes. */
export const TASK_QUEUES = {
  /** Workflows and the light steps: clean, split, the memory plan, register, the run report. */
  cpu: 'tuneflow-cpu',
  /** Steps that want an accelerator: train, evaluate, summarize (plan, shards, merge). */
  gpu: 'tuneflow-gpu',
} as const;
