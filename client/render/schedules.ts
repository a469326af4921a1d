/** Schedules as text: `tuneflow schedule list`, `describe` (and the commands that change one), `trigger`. */
import { workflowUrl } from '../../lib/temporal-settings';
import type { ScheduleDetails, ScheduleListItem, TriggerResult } from '../schedules';

/** When the schedule starts a run, as the user gave it. */
function specText(s: ScheduleListItem): string {
  return s.cron ? `cron "${s.cron}"` : s.every ? `every ${s.every}` : '(spec set outside tuneflow)';
}

export function scheduleListText(items: ScheduleListItem[]): string {
  if (items.length === 0) return 'no schedules';
  return items
    .map((s) => `${s.scheduleId.padEnd(24)} ${s.paused ? 'PAUSED' : 'active'}  ${specText(s)}  next ${s.nextRuns[0] ?? '-'}`)
    .join('\n');
}

export function scheduleText(s: ScheduleDetails): string {
  const lines = [
    `${s.scheduleId}  ${s.paused ? 'PAUSED' : 'active'}  ${specText(s)} (${s.timezone})`,
    `  policies  overlap ${s.overlap}, catch-up window ${s.catchupWindowMs / 1000} s, ${s.pauseOnFailure ? 'pauses on failure' : 'keeps running after failures'}`,
    `  config    ${s.configFile ?? '(unknown)'}${s.configSha256 ? ` (sha256 ${s.configSha256.slice(0, 12)})` : ''}`,
    `  runs      ${s.runsTaken} taken, ${s.runsSkippedForOverlap} skipped (overlap), ${s.runsMissedCatchupWindow} missed (catch-up window)`,
  ];
  if (s.note) lines.push(`  note      ${s.note}`);
  for (const id of s.runningWorkflowIds) lines.push(`  running   ${id}  ${workflowUrl(id)}`);
  for (const r of s.recentRuns) lines.push(`  recent    ${r.workflowId} started ${r.startedAt}`);
  for (const t of s.nextRuns.slice(0, 3)) lines.push(`  next      ${t}`);
  return lines.join('\n');
}

export function triggerResultText(result: TriggerResult): string {
  return result.workflowId
    ? `started pipeline ${result.workflowId}\n  Temporal UI: ${workflowUrl(result.workflowId)}`
    : `skipped: a run of ${result.scheduleId} is still going and its overlap policy does not allow another (--overlap ALLOW_ALL to force)`;
}
