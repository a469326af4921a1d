/**
 * A step's processes run in their own process group (spawned detached), so that one signal
 * reaches the DeepSpeed launcher and every rank it started.
 */

/**
 * SIGTERM the whole process group, wait until every process in it has exited (not only the
 * launcher, which dies at once while its ranks write their checkpoint), SIGKILL what is left
 * after the grace period.
 */
export async function stopProcessGroup(child: { pid?: number } & PromiseLike<unknown>, graceSeconds: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceSeconds * 1000;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  signalGroup(pid, 'SIGKILL');
  await child;
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals the group led by `pid`; a group already gone is no error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
