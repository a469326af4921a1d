/**
 * The served model: `tuneflow serve` (mlflow models serve on models:/<name>@champion, local env
 * manager) answers a REST request with one summary per review. The real MLflow server; the tiny
 * T5 of the fixture logged as train logs models.
 */
import { createServer } from 'node:net';
import { PipelineConfig } from '../../lib/config';
import { serveModel, type ModelServer } from '../../client/serve';
import { MLFLOW_URI, demoFixture, registerChampion, tempDir } from '../helpers/environment';

let server: ModelServer | undefined;

afterAll(async () => {
  server?.stop();
  // Killed on purpose: its rejection is the expected end, awaited so nothing outlives the test.
  await server?.process.catch(() => undefined);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function waitUntilUp(url: string, deadlineMs: number): Promise<void> {
  while (Date.now() < deadlineMs) {
    if (await fetch(`${url}/ping`).then((r) => r.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`the model server at ${url} did not answer /ping in time`);
}

test('the champion answers POST /invocations with one non-empty summary per review', async () => {
  const fixture = await demoFixture(await tempDir('serve'), 200, 5);
  const config = PipelineConfig.parse({
    model: { nameOrPath: fixture.model, maxSourceLength: 128 },
    evaluate: { maxNewTokens: 8 },
    register: { modelName: `tuneflow-serve-test-${Date.now()}` },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  });
  await registerChampion(config);

  server = await serveModel(config, { alias: 'champion', host: '127.0.0.1', port: await freePort() });
  await waitUntilUp(server.url, Date.now() + 180_000);
  const response = await fetch(`${server.url}/invocations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: ['The lens is sharp and the zoom is fast.', 'The strap broke after a week, cheap.'] }),
  });
  expect(response.status).toBe(200);
  const { predictions } = (await response.json()) as { predictions: unknown };
  expect(predictions).toEqual([expect.any(String), expect.any(String)]);
  for (const summary of predictions as string[]) expect(summary.trim()).not.toBe('');
});

test('serving an alias no version holds fails at once, naming it', async () => {
  const config = PipelineConfig.parse({ register: { modelName: `tuneflow-serve-none-${Date.now()}` }, mlflow: { trackingUri: MLFLOW_URI } });
  await expect(serveModel(config, { alias: 'champion', host: '127.0.0.1', port: 1 })).rejects.toThrow(
    /no version of tuneflow-serve-none-\d+ holds the alias "champion"/,
  );
});
