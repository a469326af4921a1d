/** Where the Temporal server is, from the environment (defaults: the local dev server). */
export const temporalSettings = {
  address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  /** Base URL of the Temporal Web UI, for links printed by the CLI. */
  uiUrl: process.env.TEMPORAL_UI_URL ?? `http://127.0.0.1:${process.env.TUNEFLOW_TEMPORAL_UI_PORT ?? '8233'}`,
};

export function workflowUrl(workflowId: string, runId?: string): string {
  const base = `${temporalSettings.uiUrl}/namespaces/${temporalSettings.namespace}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}` : base;
}
