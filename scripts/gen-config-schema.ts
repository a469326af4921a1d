/**
 * Writes the files the Python side generates its contracts from, so both sides read the same
 * zod schemas: python/tuneflow_ml/config.schema.json (the JSON Schema of the pipeline config;
 * the tests take its defaults) and python/tuneflow_ml/spec_types.py (TypedDicts of the config and
 * the step specs, scripts/spec-types.ts). `--check` fails when a committed file is stale.
 */
import * as path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { PipelineConfig } from '../lib/config';
import { specTypesSource } from './spec-types';

const pythonPackage = path.join(__dirname, '..', 'python', 'tuneflow_ml');
const generated: Record<string, string> = {
  [path.join(pythonPackage, 'config.schema.json')]: `${JSON.stringify(z.toJSONSchema(PipelineConfig, { io: 'output' }), null, 2)}\n`,
  [path.join(pythonPackage, 'spec_types.py')]: specTypesSource(),
};

if (process.argv.includes('--check')) {
  const stale = Object.entries(generated)
    .filter(([target, text]) => {
      try {
        return readFileSync(target, 'utf8') !== text;
      } catch {
        return true; // missing counts as stale
      }
    })
    .map(([target]) => target);
  if (stale.length > 0) {
    console.error(`${stale.join(', ')} stale: run \`bin/ts-run scripts/gen-config-schema.ts\` and commit the result`);
    process.exit(1);
  }
  console.log('generated Python contracts up to date (config.schema.json, spec_types.py)');
} else {
  for (const [target, text] of Object.entries(generated)) {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
