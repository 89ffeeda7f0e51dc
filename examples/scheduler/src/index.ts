import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type ZabClient } from '@zabkit/client';
import { LeaderLatch, type CloseOptions, type LeaderTerm } from '@zabkit/leader';

export interface TaskContext {
  /** This scheduler's id. */
  id: string;
  /** The term's fencing token: larger for every later term, whoever leads it. Pass it to fenced storage. */
  term: bigint;
  /** Ticks run in this process so far (this one included). */
  tick: number;
  /** Aborts when the term ends: stop the task's work. */
  signal: AbortSignal;
}

export interface SchedulerOptions {
  /** Participant id, shown in /status. Default: `scheduler-<pid>`. */
  id?: string;
  /** HTTP port. Default: 0 (any free port). */
  port?: number;
  /** Latch directory shared by all schedulers of the job. Default: `/examples/scheduler/leader`. */
  latchPath?: string;
  /** Period of the task, in ms. Default: 1000. */
  intervalMs?: number;
  /** The periodic task, run only while this scheduler leads. Default: logs the tick. */
  task?: (ctx: TaskContext) => void | Promise<void>;
  /** Session timeout asked of the ensemble, in ms. Default: 10000. */
  sessionTimeoutMs?: number;
  /** Where the scheduler tells what it does. Default: console.log. */
  log?: (line: string) => void;
}

/** What GET /status answers. */
export interface SchedulerStatus {
  id: string;
  /** True while this scheduler holds leadership (and runs the task). */
  leader: boolean;
  /** Fencing token of the current term (hex), null when not leading. */
  term: string | null;
  /** Ticks run by this process. */
  ticks: number;
  /** Id of the current leader as seen in the latch directory. */
  leaderId: string | null;
}

export interface Scheduler {
  readonly id: string;
  readonly url: string;
  readonly client: ZabClient;
  readonly latch: LeaderLatch;
  status(): Promise<SchedulerStatus>;
  /** Resolves when this scheduler leads (at once if it does). */
  waitForLeadership(opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<LeaderTerm>;
  /** Steps down (with `handOn: true`, waits until the next scheduler leads) and stops. */
  close(opts?: CloseOptions): Promise<void>;
}

const hex = (token: bigint): string => `0x${token.toString(16)}`;

/**
 * A scheduler: many processes run it, only the elected leader runs the task.
 *
 *   GET /status  { id, leader, term, ticks, leaderId }
 */
export async function start(connectString: string, opts: SchedulerOptions = {}): Promise<Scheduler> {
  const id = opts.id ?? `scheduler-${process.pid}`;
  const log = opts.log ?? ((line: string) => console.log(line));
  const task = opts.task ?? ((ctx: TaskContext) => log(`${ctx.id}: tick ${ctx.tick} (term ${hex(ctx.term)})`));
  const intervalMs = opts.intervalMs ?? 1_000;
  const client = await connect(connectString, { sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000 });
  const latch = new LeaderLatch(client, opts.latchPath ?? '/examples/scheduler/leader', { id });
  let ticks = 0;

  latch.on('isLeader', (term) => {
    log(`${id}: became leader (term ${hex(term.fencingToken)})`);
    const run = () => {
      if (term.signal.aborted) return;
      Promise.resolve()
        .then(() => task({ id, term: term.fencingToken, tick: ++ticks, signal: term.signal }))
        .catch((err: unknown) => log(`${id}: task failed: ${(err as Error)?.message ?? err}`));
    };
    run();
    const timer = setInterval(run, intervalMs);
    // The term ended (stepped down, suspended, session expired): stop at once.
    term.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  });
  latch.on('notLeader', (reason) => log(`${id}: no longer leader (${reason.code})`));
  latch.on('error', (err) => log(`${id}: latch error: ${(err as Error)?.message ?? err}`));

  async function status(): Promise<SchedulerStatus> {
    const term = latch.currentTerm;
    const leader = await latch.getLeader().catch(() => undefined);
    return { id, leader: latch.hasLeadership, term: term ? hex(term.fencingToken) : null, ticks, leaderId: leader?.id ?? null };
  }

  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/status') return send(res, 404, { error: 'not found' });
    status().then(
      (s) => send(res, 200, s),
      (err: unknown) => send(res, 500, { error: String((err as Error)?.message ?? err) }),
    );
  });

  try {
    await latch.start();
    await listen(server, opts.port ?? 0);
  } catch (err) {
    await latch.close().catch(() => {});
    await client.close();
    throw err;
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    id,
    url,
    client,
    latch,
    status,
    waitForLeadership: (o = {}) => latch.waitForLeadership(o),
    close: (closeOpts = {}) =>
      (closing ??= (async () => {
        await closeServer(server);
        try {
          await latch.close(closeOpts);
        } finally {
          await client.close();
        }
      })()),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
