/**
 * A Temporal dev server started by scripts/services.sh, as an operator runs it: its SQLite
 * database under a state folder of its own, on ports of its own (the shared servers are left
 * alone). Unlike TestWorkflowEnvironment's, it can be SIGKILLed and started again on the same
 * port with the same database, so the workflows it held carry on.
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { freePort } from '../../lib/python-step';

const SERVICES = path.join(REPO_ROOT, 'scripts', 'services.sh');

export class RestartableTemporal {
  private constructor(
    readonly stateDir: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  static async create(stateDir: string): Promise<RestartableTemporal> {
    const [port, uiPort] = [await freePort(), await freePort()];
    const env = { TUNEFLOW_STATE_DIR: stateDir, TUNEFLOW_TEMPORAL_PORT: String(port), TUNEFLOW_TEMPORAL_UI_PORT: String(uiPort) };
    const server = new RestartableTemporal(stateDir, port, env);
    await server.start();
    return server;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts it (again) and waits until it reports healthy. */
  async start(): Promise<void> {
    const started = await execa('bash', [SERVICES, 'start', 'temporal'], { env: this.env, reject: false, all: true });
    if (started.exitCode !== 0) throw new Error(`services.sh start temporal failed (exit ${started.exitCode}):\n${started.all}`);
  }

  /** SIGKILL to its whole process group (services.sh starts it with setsid): no shutdown of any kind. */
  async kill(): Promise<void> {
    const pid = Number((await readFile(path.join(this.stateDir, 'temporal.pid'), 'utf8')).trim());
    process.kill(-pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async stop(): Promise<void> {
    await execa('bash', [SERVICES, 'stop', 'temporal'], { env: this.env, reject: false });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
