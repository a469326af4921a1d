/**
 * A scratch folder and an in-memory DuckDB for the clean and split unit tests, made before a test
 * file's tests and removed after them. Each `stepInput` is a pipeline of its own (its own step
 * folders under `<dir>/runs`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parseConfig, type PipelineConfigInput } from '../../lib/config';
import type { StepInput } from '../../lib/steps';

export class CleanWorkspace {
  dir = '';
  duck!: DuckDBConnection;
  /** The pipeline id of the last `stepInput`. */
  lastPipelineId = '';
  private instance!: DuckDBInstance;
  private pipelines = 0;

  /** `dataDefaults` apply to every stepInput under its own `data` overrides. */
  constructor(name: string, private readonly dataDefaults: PipelineConfigInput['data'] = {}) {
    beforeAll(async () => {
      this.dir = mkdtempSync(join(tmpdir(), `tuneflow-${name}-`));
      this.instance = await DuckDBInstance.create(':memory:');
      this.duck = await this.instance.connect();
    });
    afterAll(() => {
      this.duck.closeSync();
      this.instance.closeSync();
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  stepInput = (input: string, overrides: Omit<PipelineConfigInput, 'storage'> = {}): StepInput => {
    this.pipelines += 1;
    this.lastPipelineId = `p${this.pipelines}`;
    const config = parseConfig({
      ...overrides,
      data: { ...this.dataDefaults, ...overrides.data, input },
      storage: { root: join(this.dir, 'runs') },
    });
    return { pipelineId: this.lastPipelineId, config };
  };

  /** Writes `contents` to `<dir>/<name>` (folders made as needed) and returns the path. */
  write = (name: string, contents: string | Buffer): string => {
    const path = join(this.dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, contents);
    return path;
  };
}
