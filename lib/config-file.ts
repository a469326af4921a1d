/** Reads a pipeline config from a YAML or JSON file and validates it (lib/config.ts). */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseConfig, type PipelineConfig } from './config';
import { InvalidConfigError } from './failures';

export async function loadConfigFile(file: string): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(file, `cannot read the file (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidConfigError(file, `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfig(raw, file);
}
