/**
 * register when MLflow commits a model version but its reply never arrives: a real proxy in
 * front of the real MLflow server forwards the first `model-versions/create`, lets MLflow answer,
 * then drops the connection instead of passing the answer on. Neither register's own handling nor
 * the Temporal retry (a second call) may make a second version.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { register, REGISTER_TAGS } from '../../activities/register';
import { filterString, MlflowClient } from '../../lib/mlflow';
import { MLFLOW_URI } from '../helpers/environment';
import { registerInput, uniqueName } from '../helpers/register-input';

const upstream = new URL(MLFLOW_URI);
let proxy: http.Server;
let proxyUri: string;
const creates: string[] = [];

beforeAll(async () => {
  proxy = http.createServer((req, res) => {
    const isCreate = req.url?.includes('/model-versions/create') ?? false;
    const forwarded = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (isCreate) creates.push(String(answer.statusCode));
        if (isCreate && creates.length === 1) {
          // MLflow has committed and answered; the client never hears of it.
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => req.socket.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUri = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

test('a create whose reply was lost makes one version, found again by the retry', async () => {
  const modelName = uniqueName('lost-reply');
  const workflowId = uniqueName('lost-reply-workflow');
  const input = await registerInput({ trackingUri: MLFLOW_URI, registerUri: proxyUri, modelName, workflowId });

  const first = await register(input);
  const retried = await register(input);

  expect(creates).toEqual(['200']); // one create reached MLflow: none was sent blind a second time
  expect(retried).toEqual({ ...first, created: false });
  const tagged = await new MlflowClient(MLFLOW_URI).searchModelVersions(
    `name = ${filterString(modelName)} and tags.\`${REGISTER_TAGS.workflowId}\` = ${filterString(workflowId)}`,
  );
  expect(tagged.map((v) => v.version)).toEqual([first.version]);
  expect(await new MlflowClient(MLFLOW_URI).searchModelVersions(`name = ${filterString(modelName)}`)).toHaveLength(1);
});
