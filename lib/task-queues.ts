/** Task-queue names: the one place workers and workflows agree on where work goes. */
export const TASK_QUEUES = {
  /** Workflows and the light steps: clean, split, register. */
  cpu: 'tuneflow-cpu',
  /** Steps that want an accelerator: train, evaluate, summarize. */
  gpu: 'tuneflow-gpu',
} as const;
