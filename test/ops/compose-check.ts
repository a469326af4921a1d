/**
 * Static checks of docker-compose.yml, for CI machines without a Docker engine: the file against
 * the Compose Specification's JSON Schema (the copy that ships in the `dclint` package), and
 * every file the deployment needs from this repository (build contexts, Dockerfiles and their
 * targets and COPY sources, bind-mounted files, the scripts that commands and entrypoints run),
 * and each worker's stop_grace_period against its shutdown budget.
 */
import * as path from 'node:path';
import { existsSync, readFileSync, statSync } from 'node:fs';
import Ajv from 'ajv';
import { minimumStopGraceSeconds, type ShutdownBudget } from '../../lib/shutdown-grace';

/** `${VAR:-default}` resolves to its default; a variable without one is the user's to set. */
const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)[^}]*)?\}/g;

const SCHEMA_FILE = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');

type Service = Record<string, unknown>;

let validateSchema: ReturnType<Ajv['compile']> | undefined;

/** Problems with the Compose document as the Compose Specification sees them. */
export function schemaProblems(doc: unknown): string[] {
  if (!validateSchema) {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    // The spec names its draft-07 meta-schema by an https URL that Ajv does not register, and
    // uses annotation keywords (`deprecated`) that strict mode rejects.
    delete schema.$schema;
    validateSchema = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  if (validateSchema(doc)) return [];
  return (validateSchema.errors ?? []).map((e) => {
    const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)';
    const extra = 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : '';
    return `${where}: ${e.message ?? e.keyword}${extra}`;
  });
}

/** The value a host path takes with defaults applied, or null when it depends on the user's .env. */
function resolveInterpolation(value: string): string | null {
  let userSet = false;
  const resolved = value.replace(INTERPOLATION, (_m, _name, defaultOp: string | undefined, fallback: string | undefined) => {
    if (defaultOp) return fallback ?? '';
    userSet = true;
    return '';
  });
  return userSet ? null : resolved;
}

interface Mount {
  source: string;
  target: string;
}

/** `SOURCE:TARGET[:MODE]` split on the colons that are not inside `${...}`. */
function splitOutsideInterpolation(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '$' && value[i + 1] === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    if (c === ':' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  return [...parts, current];
}

/** Bind mounts (short and long syntax); named volumes are not files of the repository. */
function bindMounts(service: Service): Mount[] {
  const volumes = Array.isArray(service.volumes) ? service.volumes : [];
  const mounts: Mount[] = [];
  for (const v of volumes) {
    if (typeof v === 'string') {
      const [source, target] = splitOutsideInterpolation(v);
      if (target && /^(\.|\/|~|\$\{)/.test(source)) mounts.push({ source, target });
    } else if (v && typeof v === 'object' && (v as Record<string, unknown>).type === 'bind') {
      const { source, target } = v as { source?: string; target?: string };
      if (source && target) mounts.push({ source, target });
    }
  }
  return mounts;
}

function commandTokens(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((t): t is string => typeof t === 'string');
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  return [];
}

interface BuildSpec {
  context: string;
  dockerfile: string;
  target: string | null;
}

function buildSpec(service: Service): BuildSpec | null {
  const build = service.build;
  if (typeof build === 'string') return { context: build, dockerfile: 'Dockerfile', target: null };
  if (build && typeof build === 'object') {
    const b = build as { context?: string; dockerfile?: string; target?: string };
    return { context: b.context ?? '.', dockerfile: b.dockerfile ?? 'Dockerfile', target: b.target ?? null };
  }
  return null;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function dockerfileInstructions(text: string): string[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim().replace(/\s+/g, ' '))
    .filter((line) => line && !line.startsWith('#'));
}

function buildProblems(name: string, build: BuildSpec, composeDir: string): string[] {
  const where = `services.${name}.build`;
  const context = path.resolve(composeDir, build.context);
  if (!existsSync(context) || !statSync(context).isDirectory()) {
    return [`${where}.context: ${build.context} is not a folder of the repository`];
  }
  const dockerfile = path.resolve(context, build.dockerfile);
  if (!existsSync(dockerfile)) return [`${where}.dockerfile: ${path.relative(composeDir, dockerfile)} does not exist`];

  const problems: string[] = [];
  const instructions = dockerfileInstructions(readFileSync(dockerfile, 'utf8'));
  const stages = instructions.flatMap((i) => /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(i)?.[1] ?? []);
  if (build.target && !stages.includes(build.target)) {
    problems.push(`${where}.target: no stage "${build.target}" in ${build.dockerfile} (stages: ${stages.join(', ') || 'none'})`);
  }
  for (const instruction of instructions) {
    const copy = /^(?:COPY|ADD)\s+(.+)$/i.exec(instruction);
    if (!copy) continue;
    const args = copy[1].split(/\s+/);
    // Copies from another stage or image are not files of the build context.
    if (args.some((a) => a.startsWith('--from'))) continue;
    const paths = args.filter((a) => !a.startsWith('--'));
    for (const source of paths.slice(0, -1)) {
      if (!existsSync(path.resolve(context, source))) {
        problems.push(`${build.dockerfile}: "${instruction}" copies ${source}, which is not in the build context ${build.context}`);
      }
    }
  }
  return problems;
}

/**
 * Every repository file the deployment needs, by service. A command token is checked when it is
 * a path in a bind-mounted folder, or a relative path in an image built from the repository root
 * (whose WORKDIR holds the repository); anything else comes from the image.
 */
export function fileProblems(doc: unknown, composeDir: string): string[] {
  const services = (doc as { services?: Record<string, Service> }).services ?? {};
  const problems: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    const mounts = bindMounts(service).flatMap((m) => {
      const source = resolveInterpolation(m.source);
      return source === null ? [] : [{ source: path.resolve(composeDir, source), target: m.target }];
    });
    for (const m of mounts) {
      if (!existsSync(m.source)) {
        problems.push(`services.${name}.volumes: ${path.relative(composeDir, m.source)} (mounted at ${m.target}) does not exist`);
      }
    }

    const build = buildSpec(service);
    if (build) problems.push(...buildProblems(name, build, composeDir));
    const builtFromRepo = build !== null && path.resolve(composeDir, build.context) === path.resolve(composeDir);

    for (const field of ['entrypoint', 'command'] as const) {
      for (const token of commandTokens(service[field])) {
        const mount = mounts.find((m) => token === m.target || token.startsWith(`${m.target}/`));
        const siblings = mounts.filter((m) => path.posix.dirname(m.target) === path.posix.dirname(token));
        if (mount) {
          const file = path.join(mount.source, path.relative(mount.target, token));
          if (!existsSync(file)) problems.push(`services.${name}.${field}: ${token} is not in the mounted ${path.relative(composeDir, mount.source)}`);
        } else if (siblings.length > 0) {
          // A folder that exists in the container only through this service's file mounts.
          const mounted = siblings.map((m) => `${m.target} <- ${path.relative(composeDir, m.source)}`).join(', ');
          problems.push(`services.${name}.${field}: ${token} is not mounted (mounted there: ${mounted})`);
        } else if (builtFromRepo && !token.startsWith('/') && !token.startsWith('-') && /[/.]/.test(token)) {
          if (!existsSync(path.resolve(composeDir, token))) problems.push(`services.${name}.${field}: ${token} does not exist in the repository`);
        }
      }
    }
  }
  return problems;
}

/** Docker's wait between SIGTERM and SIGKILL when a service sets no `stop_grace_period`. */
const DOCKER_DEFAULT_STOP_GRACE_SECONDS = 10;

const DURATION_UNITS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };

/** A Compose duration (`90s`, `2m30s`, `1h`) in seconds, or null when it is not one. */
export function composeDurationSeconds(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || !/^(\d+(\.\d+)?(h|ms|us|m|s))+$/.test(value)) return null;
  return [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|m|s)/g)].reduce((sum, [, n, unit]) => sum + Number(n) * DURATION_UNITS[unit], 0);
}

/**
 * Each worker's `stop_grace_period` against its shutdown budget (lib/shutdown-grace.ts): Docker
 * SIGKILLs the container when the period ends, so it must outlast the SDK's grace, the step's
 * stop (a training's last checkpoint) and the worker's exit together.
 */
export function stopGraceProblems(doc: unknown, budgets: Record<string, ShutdownBudget>): string[] {
  const services = (doc as { services?: Record<string, Service> }).services ?? {};
  return Object.entries(budgets).flatMap(([name, budget]) => {
    const where = `services.${name}.stop_grace_period`;
    if (!services[name]) return [`services.${name}: missing (a worker with a shutdown budget in lib/shutdown-grace.ts)`];
    const raw = services[name].stop_grace_period;
    const stop = raw === undefined ? DOCKER_DEFAULT_STOP_GRACE_SECONDS : composeDurationSeconds(raw);
    if (stop === null) return [`${where}: ${String(raw)} is not a Compose duration (e.g. 150s, 2m30s)`];
    const needed = minimumStopGraceSeconds(budget);
    if (stop >= needed) return [];
    const given = raw === undefined ? `unset (Docker's default ${stop}s)` : String(raw);
    return [
      `${where}: ${given} is shorter than the worker's stop after SIGTERM, ` +
        `${budget.activityGraceSeconds} s shutdownGraceTime + ${budget.stepStopSeconds} s step stop + ` +
        `${budget.exitMarginSeconds} s exit = ${needed} s (lib/shutdown-grace.ts): Docker would SIGKILL ` +
        `a step still writing its checkpoint; set it to ${needed}s or more`,
    ];
  });
}
