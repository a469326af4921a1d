/** The `main()` of both worker processes. */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { codecFromEnvironment } from '../lib/payload-codec';
import { temporalSettings } from '../lib/temporal-settings';

export type CreateWorker = (connection: NativeConnection, namespace: string) => Promise<Worker>;

/**
 * Checks the payload codec's settings, connects to Temporal, creates the worker and polls until
 * it shuts down (SIGINT or SIGTERM), then runs `afterRun` (what the worker started besides
 * itself) and closes the connection. An error is printed and ends the process with status 1, so
 * that a supervisor restarts it.
 */
export function runWorker(name: string, create: CreateWorker, afterRun: () => Promise<void> = async () => {}): void {
  const main = async () => {
    // A bad codec key fails here, before a connection, with what to fix; only key ids are printed.
    const codec = codecFromEnvironment();
    console.log(
      codec
        ? `${name}: payloads encrypted with key ${codec.keyId} (readable: ${codec.keyIds.join(', ')})`
        : `${name}: payloads not encrypted (TUNEFLOW_CODEC_KEYS unset)`,
    );
    const connection = await NativeConnection.connect({ address: temporalSettings.address });
    try {
      const worker = await create(connection, temporalSettings.namespace);
      console.log(`${name}: polling ${worker.options.taskQueue} on ${temporalSettings.address}`);
      await worker.run();
    } finally {
      await afterRun();
      await connection.close();
    }
  };
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
