/**
 * Where a step's processes send their events (lib/python-step/protocol.ts): a Unix socket when
 * every rank runs on this host, a TCP listener when ranks run on other nodes (train.hostfile).
 *
 * Over TCP anyone who reaches the address could connect, so each attempt has a random token,
 * given to the ranks through DeepSpeed's `.deepspeed_env` (a 0600 file): a connection whose first
 * line is not `rank joined` with that token is closed unread. The server knows every rank by its
 * connection: one that closes without `rank left` (and without an error) is a lost rank (killed,
 * or its node gone), reported at once instead of when the others' collectives time out. Closing
 * the server closes every connection, which makes each rank exit on whatever node it runs
 * (python/tuneflow_ml/events.py's watchdog).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { RankEvent, StepEvent } from './protocol';
import { jsonOrNull } from '../json';

export type EventTransport = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string };

export interface EventHandlers {
  /** A valid event from a rank (null: a line before its `rank joined`, from a process on this host). */
  onEvent: (event: StepEvent, from: RankEvent | null) => void;
  /** A line that is not an event of the protocol. */
  onProtocolError: (line: string) => void;
  /** A rank's connection closed before it said `left` or reported an error. */
  onRankLost: (rank: RankEvent) => void;
}

interface Connection {
  socket: Socket;
  rank: RankEvent | null;
  settled: boolean;
  /** Refused for its token: its lines, even those already buffered, are dropped. */
  refused: boolean;
  closed: Promise<void>;
}

export class EventServer {
  private readonly connections = new Set<Connection>();
  private closing = false;
  /** Connections refused for a wrong or missing token (TCP only). */
  rejected = 0;

  private constructor(
    private readonly server: Server,
    /** The value of TUNEFLOW_EVENTS_SOCKET: the socket's path, or `tcp://host:port`. */
    readonly address: string,
    /** TUNEFLOW_EVENTS_TOKEN; null on a Unix socket, which only this host's processes reach. */
    readonly token: string | null,
  ) {}

  static async start(transport: EventTransport, handlers: EventHandlers): Promise<EventServer> {
    const token = transport.kind === 'tcp' ? randomBytes(24).toString('hex') : null;
    let self: EventServer | null = null;
    const server = createServer((socket) => {
      if (self) self.accept(socket, handlers);
      else socket.destroy(); // not listening yet: no process of this step can know the address
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (transport.kind === 'unix') server.listen(transport.path, resolve);
      else server.listen(0, transport.host, resolve);
    });
    const address =
      transport.kind === 'unix'
        ? transport.path
        : `tcp://${transport.host.includes(':') ? `[${transport.host}]` : transport.host}:${(server.address() as { port: number }).port}`;
    self = new EventServer(server, address, token);
    return self;
  }

  /** The ranks that said `joined`, by connection. */
  get ranks(): RankEvent[] {
    return [...this.connections].map((c) => c.rank).filter((rank): rank is RankEvent => rank !== null);
  }

  private accept(socket: Socket, handlers: EventHandlers): void {
    // A node that vanishes without a FIN (power, network) is noticed by the collectives' timeout;
    // keepalive lets the kernel close this side in the end too.
    socket.setKeepAlive(true, 30_000);
    const lines = createInterface({ input: socket });
    const connection: Connection = {
      socket,
      rank: null,
      settled: false,
      refused: false,
      // The socket's close, not readline's: a destroyed socket never ends its readline interface.
      closed: new Promise<void>((resolve) => socket.once('close', () => resolve())),
    };
    this.connections.add(connection);
    lines.on('line', (line) => {
      if (connection.refused || line.trim() === '') return;
      const parsed = StepEvent.safeParse(jsonOrNull(line));
      if (connection.rank === null && this.token !== null) {
        // Over TCP, the first line proves the sender: anything else is closed unread.
        if (!parsed.success || parsed.data.event !== 'rank' || parsed.data.token !== this.token) {
          this.rejected += 1;
          this.connections.delete(connection);
          connection.refused = true; // the rest of what it sent is not read either
          socket.destroy();
          return;
        }
      }
      if (!parsed.success) {
        handlers.onProtocolError(line);
        return;
      }
      const event = parsed.data;
      if (event.event === 'rank') {
        if (event.state === 'joined') connection.rank = event;
        else connection.settled = true;
      } else if (event.event === 'error') {
        connection.settled = true;
      }
      handlers.onEvent(event, connection.rank);
    });
    socket.on('error', () => {}); // a reset connection is a closed one: 'close' below says so
    void connection.closed.then(() => {
      if (!this.closing && connection.rank !== null && !connection.settled && this.connections.has(connection)) {
        handlers.onRankLost(connection.rank);
      }
    });
  }

  /** Every event read from connections that close by themselves within `graceMs`; then `close()`. */
  async drain(graceMs: number): Promise<void> {
    const all = Promise.all([...this.connections].map((c) => c.closed));
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    await this.close();
  }

  /** Stops listening and closes every connection: each rank still running exits at once. */
  async close(): Promise<void> {
    this.closing = true;
    for (const connection of this.connections) connection.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.closed));
  }
}
