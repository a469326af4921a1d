/**
 * Writes python/tuneflow_ml/config.schema.json, the JSON Schema of the pipeline config generated
 * from the zod schema, so the Python side reads the same contract. `--check` fails when the
 * committed file is stale.
 */
import * as path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { PipelineConfig } from '../lib/config';

const target = path.join(__dirname, '..', 'python', 'tuneflow_ml', 'config.schema.json');
const schema = `${JSON.stringify(z.toJSONSchema(PipelineConfig, { io: 'output' }), null, 2)}\n`;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (committed !== schema) {
    console.error(`${target} is stale: run \`bin/ts-run scripts/gen-config-schema.ts\` and commit the result`);
    process.exit(1);
  }
  console.log('config schema up to date');
} else {
  writeFileSync(target, schema);
  console.log(`wrote ${target}`);
}
