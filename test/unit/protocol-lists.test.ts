/**
 * The lists that both sides of lib/python-step/protocol.ts spell out: failure kinds
 * (lib/failures.ts, python/tuneflow_ml/events.py FAILURE_KINDS) and event types (StepEvent,
 * events.py EVENT_TYPES). A kind or event added on one side only would be rejected at run time.
 */
import * as path from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { FailureKind } from '../../lib/failures';
import { pythonExecutable, StepEvent } from '../../lib/python-step';

const PRINT_LISTS = `
import json
from tuneflow_ml import events
print(json.dumps({"failureKinds": events.FAILURE_KINDS, "eventTypes": events.EVENT_TYPES}))
`;

let python: { failureKinds: string[]; eventTypes: string[] };

beforeAll(async () => {
  const { stdout } = await execa(pythonExecutable(), ['-c', PRINT_LISTS], {
    env: { PYTHONPATH: path.join(REPO_ROOT, 'python') },
  });
  python = JSON.parse(stdout);
});

test('failure kinds are the same list in TypeScript and Python', () => {
  expect(python.failureKinds).toEqual(FailureKind.options);
});

test('event types are the same list in TypeScript and Python', () => {
  const typescript = StepEvent.options.map((option) => option.shape.event.value);
  expect(python.eventTypes).toEqual(typescript);
});
