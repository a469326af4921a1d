/**
 * CLI commands for operating tuneflow: `schedule create|list|describe|pause|unpause|trigger|delete`
 * (client/schedules.ts) and `list` (client/pipelines.ts), shown as text by client/render/. Every
 * command takes `--json`.
 */
import { Command, Option } from 'commander';
import type { z } from 'zod';
import { EXECUTION_STATUSES, PipelineFilter, listPipelines } from './pipelines';
import { pipelineListText } from './render/pipeline-list';
import { scheduleListText, scheduleText, triggerResultText } from './render/schedules';
import {
  OVERLAP_POLICIES,
  ScheduleRequest,
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  triggerSchedule,
  unpauseSchedule,
  type OverlapPolicy,
} from './schedules';
import { connectClient } from './start';
import { InvalidOptionsError } from '../lib/failures';

/** zod paths of the request, as the flags a user typed. */
const FLAG_OF: Record<string, string> = { scheduleId: '<scheduleId>', configFile: '--config', catchupWindow: '--catchup-window' };

/** Parses CLI options with a schema; a bad option names its flag, the problem and the command. */
function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, command: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    return `  ${FLAG_OF[key] ?? (key ? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : '(options)')}: ${issue.message}`;
  });
  throw new InvalidOptionsError(`invalid options for tuneflow ${command}:\n${lines.join('\n')}\nSee tuneflow ${command} --help.`);
}

function print(json: boolean | undefined, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}

export function addOpsCommands(program: Command): void {
  const schedule = program.command('schedule').description('scheduled retraining (Temporal Schedules)');

  schedule
    .command('create <scheduleId>')
    .description('create a schedule that starts a pipeline with this config (read and validated now)')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML or JSON)')
    .option('--cron <expression>', 'cron expression, e.g. "0 2 * * *" (daily at 02:00)')
    .option('--every <duration>', 'fixed interval instead of cron, e.g. "7d"')
    .option('--timezone <tz>', 'time zone of the cron expression', 'UTC')
    .addOption(new Option('--overlap <policy>', 'when the previous run is still going').choices(OVERLAP_POLICIES).default('SKIP'))
    .option('--catchup-window <duration>', 'take runs missed during a server outage up to this late', '1d')
    .option('--no-pause-on-failure', 'keep the schedule running after a failed pipeline')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .option('--json', 'machine-readable output')
    .action(async (scheduleId: string, o: Record<string, unknown>) => {
      const request = parseOptions(
        ScheduleRequest,
        {
          scheduleId,
          configFile: o.config,
          cron: o.cron,
          every: o.every,
          timezone: o.timezone,
          overlap: o.overlap,
          catchupWindow: o.catchupWindow,
          pauseOnFailure: o.pauseOnFailure,
          paused: o.paused === true,
          note: o.note,
        },
        'schedule create',
      );
      const created = await createSchedule(await connectClient(), request);
      print(o.json as boolean, created, () => `created schedule\n${scheduleText(created)}`);
    });

  schedule
    .command('list')
    .description("list tuneflow's schedules")
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const items = await listSchedules(await connectClient());
      print(o.json, items, () => scheduleListText(items));
    });

  schedule
    .command('describe <scheduleId>')
    .description('show a schedule: spec, policies, config, recent and next runs')
    .option('--json', 'machine-readable output (includes the config every run starts with)')
    .action(async (scheduleId: string, o: { json?: boolean }) => {
      const details = await describeSchedule(await connectClient(), scheduleId);
      print(o.json, details, () => scheduleText(details));
    });

  for (const [name, run] of [
    ['pause', pauseSchedule],
    ['unpause', unpauseSchedule],
  ] as const) {
    schedule
      .command(`${name} <scheduleId>`)
      .description(`${name} a schedule (running pipelines are not affected)`)
      .option('--note <text>', 'why, shown with the schedule')
      .option('--json', 'machine-readable output')
      .action(async (scheduleId: string, o: { note?: string; json?: boolean }) => {
        const details = await run(await connectClient(), scheduleId, o.note);
        print(o.json, details, () => scheduleText(details));
      });
  }

  schedule
    .command('trigger <scheduleId>')
    .description("start the schedule's pipeline now")
    .addOption(new Option('--overlap <policy>', "override the schedule's overlap policy for this run").choices(OVERLAP_POLICIES))
    .option('--json', 'machine-readable output')
    .action(async (scheduleId: string, o: { overlap?: OverlapPolicy; json?: boolean }) => {
      const result = await triggerSchedule(await connectClient(), scheduleId, { overlap: o.overlap });
      print(o.json, result, () => triggerResultText(result));
    });

  schedule
    .command('delete <scheduleId>')
    .description('delete a schedule (pipelines it started keep running)')
    .option('--json', 'machine-readable output')
    .action(async (scheduleId: string, o: { json?: boolean }) => {
      await deleteSchedule(await connectClient(), scheduleId);
      print(o.json, { scheduleId, deleted: true }, () => `deleted schedule ${scheduleId}`);
    });

  program
    .command('list')
    .description('list pipelines by step, status or model (Temporal visibility, newest first)')
    .option('--step <step>', 'at this step (TuneflowStep), e.g. train')
    .addOption(new Option('--status <status>', 'execution status').choices(EXECUTION_STATUSES))
    .option('--model <nameOrPath>', 'fine-tuning this model (TuneflowModel)')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .option('--json', 'machine-readable output')
    .action(async (o: { step?: string; status?: string; model?: string; limit: number; json?: boolean }) => {
      const filter = parseOptions(PipelineFilter, { step: o.step, status: o.status, model: o.model, limit: o.limit }, 'list');
      const entries = await listPipelines(await connectClient(), filter);
      print(o.json, entries, () => pipelineListText(entries));
    });
}
