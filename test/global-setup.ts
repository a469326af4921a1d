/** Tests talk to a real MLflow server: start it (a no-op when it is already healthy). */
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

export default function globalSetup(): void {
  const services = path.join(__dirname, '..', 'scripts', 'services.sh');
  const started = spawnSync('bash', [services, 'start', 'mlflow'], { stdio: 'inherit' });
  if (started.status !== 0) throw new Error(`${services} start mlflow failed (exit ${started.status})`);
}
