/**
 * The events socket of a step (lib/python-step/event-server.ts) over TCP, as ranks on other nodes
 * reach it: the token check, lost ranks, the `.deepspeed_env` that carries the token, and each
 * node's last output lines.
 */
import { connect } from 'node:net';
import { EventServer } from '../../lib/python-step/event-server';
import { deepSpeedEnvironmentFile } from '../../lib/python-step/launch';
import { NodeOutput } from '../../lib/python-step/multi-node';
import type { RankEvent, StepEvent } from '../../lib/python-step';

const rank = (state: 'joined' | 'left', token: string | null, r = 1): RankEvent => ({
  event: 'rank', state, rank: r, localRank: 0, nodeRank: r, pid: 1000 + r, hostname: 'node-b', token,
});

let server: EventServer | null = null;
afterEach(() => server?.close());

async function send(server: EventServer, lines: object[], end: boolean): Promise<void> {
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(server.address)!;
  const socket = connect(Number(port), host);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  if (end) socket.end();
  await new Promise((resolve) => socket.once('close', resolve));
}

test('over TCP a connection without the token is closed unread; a rank that closes without `left` is lost', async () => {
  const events: StepEvent[] = [];
  const lost: RankEvent[] = [];
  server = await EventServer.start({ kind: 'tcp', host: '127.0.0.1' }, {
    onEvent: (event) => events.push(event),
    onProtocolError: (line) => events.push({ event: 'log', level: 'warning', message: line }),
    onRankLost: (r) => lost.push(r),
  });
  expect(server.token).toMatch(/^[0-9a-f]{48}$/);
  const log = { event: 'log', level: 'info', message: 'hello' };

  await send(server, [rank('joined', 'not-the-token'), log], true);
  await send(server, [log], true);
  expect(server.rejected).toBe(2);
  expect(events).toEqual([]);

  await send(server, [rank('joined', server.token, 1), log, rank('left', null, 1)], true); // a clean exit
  await send(server, [rank('joined', server.token, 2), log], true); // killed: no `left`
  await new Promise((resolve) => setImmediate(resolve));
  expect(events.filter((e) => e.event === 'log')).toHaveLength(2);
  expect(lost.map((r) => r.rank)).toEqual([2]);
  await server.close();
  expect(lost).toHaveLength(1); // closing the server loses no rank: it ends the step
});

test('.deepspeed_env carries the events address and token, never the codec keys or shell-expandable values', () => {
  process.env.TUNEFLOW_CODEC_KEYS = 'k1:c2VjcmV0';
  process.env.HF_HOME = '/cache/hf';
  process.env.TUNEFLOW_EXTRA = '$(touch /tmp/pwned)';
  try {
    const { text, unsafe } = deepSpeedEnvironmentFile({ TUNEFLOW_EVENTS_SOCKET: 'tcp://10.0.0.5:41234', TUNEFLOW_EVENTS_TOKEN: 'ab12' });
    const lines = text.trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining(['TUNEFLOW_EVENTS_SOCKET=tcp://10.0.0.5:41234', 'TUNEFLOW_EVENTS_TOKEN=ab12', 'HF_HOME=/cache/hf']));
    expect(text).not.toContain('CODEC');
    expect(text).not.toContain('pwned');
    expect(unsafe).toEqual(['TUNEFLOW_EXTRA']);
  } finally {
    delete process.env.TUNEFLOW_CODEC_KEYS;
    delete process.env.HF_HOME;
    delete process.env.TUNEFLOW_EXTRA;
  }
});

test("a failing node's last lines survive another node's output", () => {
  const output = new NodeOutput(['node-a', 'node-b']);
  const tail: string[] = [];
  for (const line of ['node-b: Traceback (most recent call last):', 'node-b: ValueError: bad shard', ...Array.from({ length: 100 }, (_, i) => `node-a: step ${i}`)]) {
    output.add(line);
    tail.push(line);
  }
  expect(output.of('node-b', tail)).toBe('node-b: Traceback (most recent call last):\nnode-b: ValueError: bad shard');
  expect(output.of('node-a', tail).split('\n')).toHaveLength(20);
  expect(output.of(null, ['whole tail'])).toBe('whole tail');
});
