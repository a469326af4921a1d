/** The `input` check: data.input resolves to readable files whose heads hold the mapped columns. */
import { DuckDBInstance } from '@duckdb/node-api';
import type { PipelineConfig } from '../../lib/config';
import { probe, resolveInput } from '../clean/inputs';

/** The same resolve and probe as clean's plan, so a file clean would refuse is refused here. */
export async function checkInput(config: PipelineConfig): Promise<string> {
  const { files, skipped } = await resolveInput(config.data);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const file of files) await probe(file, config.data, connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const megabytes = files.reduce((total, file) => total + file.sizeBytes, 0) / 1e6;
  const formats = [...new Set(files.map((file) => file.format))].join(', ');
  const skippedNote = skipped.length > 0 ? `; ${skipped.length} other file(s) skipped` : '';
  return `${files.length} file(s), ${megabytes.toFixed(1)} MB (${formats}), columns found${skippedNote}`;
}
