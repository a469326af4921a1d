/** The `main()` of both worker processes. */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { temporalSettings } from '../lib/temporal-settings';

export type CreateWorker = (connection: NativeConnection, namespace: string) => Promise<Worker>;

/**
 * Connects to Temporal, creates the worker and polls until it shuts down (SIGINT or SIGTERM),
 * then closes the connection. An error is printed and ends the process with status 1, so that a
 * supervisor restarts it.
 */
export function runWorker(name: string, create: CreateWorker): void {
  const main = async () => {
    const connection = await NativeConnection.connect({ address: temporalSettings.address });
    try {
      const worker = await create(connection, temporalSettings.namespace);
      console.log(`${name}: polling ${worker.options.taskQueue} on ${temporalSettings.address}`);
      await worker.run();
    } finally {
      await connection.close();
    }
  };
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
