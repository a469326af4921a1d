/**
 * Lists the TCP sockets the local stack (scripts/services.sh: the Temporal dev server with its
 * UI, MLflow) listens on, and exits 1 if any is not on loopback:
 *
 *   bash scripts/services.sh start && bin/ts-run scripts/check-loopback.ts
 *
 * Reads the services' pid files in TUNEFLOW_STATE_DIR (state/services) and takes each process
 * tree (MLflow's uvicorn and job runners included).
 */
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../lib/artifacts';
import { isLoopback, listenersOf, processTree } from '../lib/listening-sockets';

const state = process.env.TUNEFLOW_STATE_DIR ?? path.join(REPO_ROOT, 'state', 'services');
const roots = ['temporal', 'mlflow'].flatMap((service) => {
  const file = path.join(state, `${service}.pid`);
  try {
    return [Number(readFileSync(file, 'utf8').trim())];
  } catch {
    console.error(`${service}: no pid file ${file}: start it with \`bash scripts/services.sh start ${service}\``);
    return [];
  }
});
const listeners = listenersOf(processTree(roots));
for (const l of listeners) {
  console.log(`${isLoopback(l.address) ? 'loopback    ' : 'NOT LOOPBACK'} ${l.address}:${l.port}  pid ${l.pid}  ${l.command.split(' ').slice(0, 3).join(' ')}`);
}
const exposed = listeners.filter((l) => !isLoopback(l.address));
console.log(`${listeners.length} listening socket(s), ${exposed.length} not on loopback`);
process.exit(roots.length === 2 && exposed.length === 0 ? 0 : 1);
