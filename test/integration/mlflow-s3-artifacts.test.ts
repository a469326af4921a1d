/**
 * MLflow's artifact store on S3 (`TUNEFLOW_MLFLOW_ARTIFACTS=s3://...` for scripts/services.sh,
 * which becomes `mlflow server --artifacts-destination s3://...`): the model the train step logs
 * (tuneflow_ml.pyfunc_model.log_model) lands in the bucket and comes back whole through the
 * server, and the Python step needs no S3 credentials of its own (the server proxies artifacts).
 * A real SeaweedFS and a real MLflow server, both this file's own, on loopback.
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { parseConfig } from '../../lib/config';
import { freePort, pythonExecutable } from '../../lib/python-step';
import { ObjectStore } from '../../lib/storage/object-store';
import { startSeaweedS3, type SeaweedS3 } from '../helpers/seaweedfs';
import { tempDir } from '../helpers/environment';

const SERVICES = path.join(REPO_ROOT, 'scripts', 'services.sh');

let s3: SeaweedS3;
let dir: string;
let servicesEnv: NodeJS.ProcessEnv;
let trackingUri: string;
const saved = { ...process.env };

beforeAll(async () => {
  dir = await tempDir('mlflow-s3-artifacts');
  s3 = await startSeaweedS3(path.join(dir, 'seaweedfs'));
  Object.assign(process.env, s3.env);
  const port = await freePort();
  trackingUri = `http://127.0.0.1:${port}`;
  servicesEnv = {
    ...process.env,
    TUNEFLOW_STATE_DIR: path.join(dir, 'services'),
    TUNEFLOW_MLFLOW_PORT: String(port),
    TUNEFLOW_MLFLOW_ARTIFACTS: `s3://${s3.bucket}/mlartifacts`,
  };
  await execa('bash', [SERVICES, 'start', 'mlflow'], { env: servicesEnv });
}, 180_000);

afterAll(async () => {
  process.env = saved;
  if (servicesEnv) await execa('bash', [SERVICES, 'stop', 'mlflow'], { env: servicesEnv, reject: false });
  await s3?.stop();
});

const LOG_AND_FETCH = `
import json, sys, mlflow
from tuneflow_ml.pyfunc_model import download_model_dir, log_model
config, model_dir, fetched = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
mlflow.set_tracking_uri(config["mlflow"]["trackingUri"])
mlflow.set_experiment(config["mlflow"]["experiment"])
with mlflow.start_run() as run:
    info = log_model(model_dir, config)
print(json.dumps({"artifactUri": run.info.artifact_uri, "fetched": download_model_dir(config["mlflow"]["trackingUri"], info.model_uri, fetched)}))
`;

test('a model the train step logs is stored in the bucket and comes back whole; the step holds no S3 credentials', async () => {
  const modelDir = path.join(dir, 'model');
  await mkdir(modelDir, { recursive: true });
  const weights = randomBytes(300_000);
  await writeFile(path.join(modelDir, 'model.safetensors'), weights);
  await writeFile(path.join(modelDir, 'config.json'), JSON.stringify({ model_type: 't5' }));
  const config = parseConfig({ mlflow: { trackingUri, experiment: 'mlflow-s3-artifacts' } });

  // Nothing of AWS reaches the Python process: only the server talks to the store.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONPATH: path.join(REPO_ROOT, 'python') };
  const { stdout } = await execa(pythonExecutable(), ['-c', LOG_AND_FETCH, JSON.stringify(config), modelDir, path.join(dir, 'fetched')], {
    env,
    extendEnv: false,
  });
  const { artifactUri, fetched } = JSON.parse(stdout.trim().split('\n').pop()!) as { artifactUri: string; fetched: string };
  expect(artifactUri).toMatch(/^mlflow-artifacts:\//);

  const stored = await new ObjectStore(s3.bucket, '').list('mlartifacts');
  const weightsObject = stored.find((o) => o.key.endsWith('/artifacts/model/model.safetensors'));
  expect(weightsObject).toMatchObject({ size: weights.length });
  expect(stored.some((o) => o.key.endsWith('/MLmodel'))).toBe(true);
  expect((await readFile(path.join(fetched, 'model.safetensors'))).equals(weights)).toBe(true);
  expect(JSON.parse(await readFile(path.join(fetched, 'config.json'), 'utf8'))).toEqual({ model_type: 't5' });
});
