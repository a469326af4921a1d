/**
 * The Python TypedDicts of the contracts the Python steps read (python/tuneflow_ml/spec_types.py),
 * translated from `z.toJSONSchema` of the zod schemas: one class per registered schema, named as
 * its export, and one per object inside them, named by its path (`SummarizeResultShards`).
 *
 * What JSON Schema cannot say, the TypedDicts do not say either: refinements (DataConfig's
 * minTextWords <= maxTextWords) and bounds (minimum, pattern) are checked by zod before a spec is
 * written, so Python reads validated data and only needs the shape. A transform has no output
 * schema: the generator fails on it, naming the schema; give such a field an output type with
 * `.pipe(z.…())`.
 */
import { z } from 'zod';
import {
  ColumnMapping,
  DataConfig,
  DeepSpeedConfig,
  EvaluateConfig,
  GenerationConfig,
  MlflowConfig,
  ModelConfig,
  PipelineConfig,
  RegisterConfig,
  ReportConfig,
  SplitConfig,
  StorageConfig,
  SummarizeConfig,
  TrainConfig,
} from '../lib/config';
import {
  Baselines,
  ChampionRef,
  ChampionScore,
  EvaluateResult,
  EvaluateSpec,
  GenerationSettings,
  PlanSpec,
  PredictionSpread,
  ReportSpec,
  RougeScores,
  ModelRef,
  ShardJob,
  ShardJobResult,
  ShardRef,
  SummarizeResult,
  SummarizeTextSpec,
  TrainResult,
  TrainSpec,
} from '../lib/steps';

/** Dependencies come before what uses them, so the order here is only the order of the file. */
const CONTRACTS: Record<string, z.ZodType> = {
  ColumnMapping,
  DataConfig,
  SplitConfig,
  ModelConfig,
  DeepSpeedConfig,
  TrainConfig,
  GenerationConfig,
  EvaluateConfig,
  RegisterConfig,
  SummarizeConfig,
  ReportConfig,
  StorageConfig,
  MlflowConfig,
  PipelineConfig,
  ChampionRef,
  RougeScores,
  ChampionScore,
  Baselines,
  TrainResult,
  PredictionSpread,
  EvaluateResult,
  // Unexported in lib/steps and used twice (products, reviews): named here so it is one class.
  SummaryFiles: SummarizeResult.shape.products,
  SummarizeResult,
  ShardRef,
  GenerationSettings,
  ModelRef,
  TrainSpec,
  EvaluateSpec,
  PlanSpec,
  ShardJob,
  ShardJobResult,
  ReportSpec,
  SummarizeTextSpec,
};

type JsonSchema = {
  $ref?: string;
  /** A list for a nullable scalar: `["number", "null"]`. */
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
};

/** Python's keyword.kwlist: not usable as a field of the class syntax. */
const PYTHON_KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def',
  'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda',
  'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);
const SCALARS: Record<string, string> = { string: 'str', integer: 'int', number: 'float', boolean: 'bool', null: 'None' };

const pascal = (key: string) => key.charAt(0).toUpperCase() + key.slice(1);

function pythonLiteral(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null) return 'None';
  return JSON.stringify(value);
}

/** Writes the classes and aliases in dependency order; inline objects equal in shape share one class. */
class TypedDictWriter {
  private readonly blocks: string[] = [];
  private readonly classByShape = new Map<string, string>();
  private readonly written = new Set<string>();

  constructor(private readonly schemas: Record<string, JsonSchema>) {}

  contract(name: string): void {
    if (this.written.has(name)) return;
    this.written.add(name);
    const schema = this.schemas[name];
    if (schema.type === 'object' && schema.properties) {
      this.classByShape.set(JSON.stringify(schema), name);
      this.object(name, schema);
    } else {
      this.blocks.push(`${name} = ${this.type(schema, name)}`);
    }
  }

  private object(name: string, schema: JsonSchema): void {
    const required = new Set(schema.required ?? []);
    const fields = Object.entries(schema.properties ?? {}).map(([key, property]) => {
      if (PYTHON_KEYWORDS.has(key) || !/^[A-Za-z_]\w*$/.test(key)) {
        throw new Error(`${name}.${key} cannot be a TypedDict field name; rename the field in the zod schema`);
      }
      const type = this.type(property, name + pascal(key));
      return `    ${key}: ${required.has(key) ? type : `NotRequired[${type}]`}`;
    });
    this.blocks.push(`class ${name}(TypedDict):\n${fields.length > 0 ? fields.join('\n') : '    pass'}`);
  }

  /** The Python type of `schema`; `name` names the class an inline object becomes. */
  private type(schema: JsonSchema, name: string): string {
    if (schema.$ref) {
      const target = schema.$ref.replace(/^#\//, '');
      this.contract(target);
      return target;
    }
    const members = schema.anyOf ?? schema.oneOf;
    if (members) {
      const types = members.map((member) => {
        const tag = Object.values(member.properties ?? {}).find((p) => p.const !== undefined)?.const;
        return this.type(member, typeof tag === 'string' ? name + pascal(tag) : name);
      });
      const unique = [...new Set(types)];
      const literals = unique.filter((type) => type.startsWith('Literal['));
      if (literals.length === unique.length) return `Literal[${literals.map((type) => type.slice(8, -1)).join(', ')}]`;
      return unique.join(' | ');
    }
    if (schema.const !== undefined) return `Literal[${pythonLiteral(schema.const)}]`;
    if (schema.enum) return `Literal[${schema.enum.map(pythonLiteral).join(', ')}]`;
    if (schema.type === 'array') return `list[${schema.items ? this.type(schema.items, `${name}Item`) : 'Any'}]`;
    if (schema.type === 'object') {
      if (schema.properties) {
        const shape = JSON.stringify(schema);
        const existing = this.classByShape.get(shape);
        if (existing) return existing;
        this.classByShape.set(shape, name);
        this.object(name, schema);
        return name;
      }
      const values = schema.additionalProperties;
      return `dict[str, ${typeof values === 'object' ? this.type(values, `${name}Value`) : 'Any'}]`;
    }
    const scalars = [schema.type ?? []].flat();
    if (scalars.length > 0 && scalars.every((type) => SCALARS[type])) return scalars.map((type) => SCALARS[type]).join(' | ');
    if (Object.keys(schema).every((key) => key === 'default')) return 'Any'; // z.unknown()
    throw new Error(`${name}: no Python type for JSON Schema ${JSON.stringify(schema)}; extend scripts/spec-types.ts`);
  }

  source(): string {
    return `${this.blocks.join('\n\n\n')}\n`;
  }
}

function jsonSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(CONTRACTS)) registry.add(schema, { id });
  try {
    // Output: what the TypeScript side writes after parsing, defaults filled in.
    return z.toJSONSchema(registry, { io: 'output', uri: (id) => `#/${id}` }).schemas as Record<string, JsonSchema>;
  } catch (error) {
    throw new Error(
      `z.toJSONSchema cannot express a contract of scripts/spec-types.ts (${String(error)}); ` +
        'declare a transformed field\'s output with .pipe(z.…())',
    );
  }
}

export function specTypesSource(): string {
  const writer = new TypedDictWriter(jsonSchemas());
  for (const name of Object.keys(CONTRACTS)) writer.contract(name);
  return `"""The contracts the Python steps read, as TypedDicts: PipelineConfig (lib/config.ts) and the
step specs (lib/steps/). Generated by scripts/gen-config-schema.ts from z.toJSONSchema; do not
edit: run \`bin/ts-run scripts/gen-config-schema.ts\` (scripts/test.sh fails when this is stale)."""

from typing import Any, Literal, NotRequired, TypedDict


${writer.source()}`;
}
