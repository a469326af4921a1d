/**
 * One clean task: its file (or byte range) read by the format's reader, each row routed by a
 * RowRouter, and the task's parts (candidates, quarantine lines) written. Runs inline or on a
 * worker thread (threads.ts).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import type { FileFormat } from '../../lib/config';
import type { CleanTask, CleanTaskResult } from '../../lib/steps';
import { csvReader } from './formats/csv';
import { jsonlReader } from './formats/jsonl';
import { readParquet } from './formats/parquet';
import { tsvReader } from './formats/tsv';
import type { DataConfig } from './inputs';
import { forEachLine, type LineReader } from './lines';
import { BlockWriter, RowRouter } from './rows';

const LINE_READERS: Record<Exclude<FileFormat, 'parquet'>, (task: CleanTask, router: RowRouter, data: DataConfig) => LineReader> = {
  'amazon-tsv': tsvReader,
  csv: csvReader,
  jsonl: jsonlReader,
};

/** Runs one task; `onChunk` gets the rows read after each chunk. */
export async function runTask(task: CleanTask, data: DataConfig, onChunk: (rowsRead: number) => void): Promise<CleanTaskResult> {
  const candidatesOut = new BlockWriter(task.candidatesPath);
  const quarantineOut = new BlockWriter(task.quarantinePath);
  const router = new RowRouter(data, task, candidatesOut, quarantineOut);
  const afterChunk = async () => {
    await Promise.all([candidatesOut.drain(), quarantineOut.drain()]);
    onChunk(router.read);
  };
  let lines = 0;
  let blankLines = 0;
  let headerSeen = true;
  try {
    if (task.file.format === 'parquet') {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      try {
        await readParquet(task, router, connection, afterChunk);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    } else {
      const reader = LINE_READERS[task.file.format](task, router, data);
      lines = await forEachLine(task.file, task.range, reader.onLine, afterChunk);
      reader.finish();
      headerSeen = reader.headerSeen;
      blankLines = reader.blankLines;
    }
    await Promise.all([candidatesOut.close(), quarantineOut.close()]);
  } finally {
    await Promise.all([candidatesOut.abandon(), quarantineOut.abandon()]);
  }
  const { read, quarantined, droppedEmpty, droppedShort, filteredCategory, sampledOut, candidates } = router;
  return { index: task.index, read, quarantined, droppedEmpty, droppedShort, filteredCategory, sampledOut, candidates, lines, blankLines, headerSeen };
}
