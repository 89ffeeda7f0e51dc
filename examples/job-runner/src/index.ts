import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, type ZabClient } from '@zabkit/client';
import { Mutex } from '@zabkit/lock';
import { FencedStore, StaleTokenError, hex } from './fenced-store.js';

export { FencedStore, StaleTokenError, hex, type StoredRecord } from './fenced-store.js';

/** Thrown by `runJob` when the lease was lost before the result was written (the job may be run again). */
export class LockLostError extends Error {
  constructor(
    readonly job: string,
    override readonly cause: unknown,
  ) {
    super(`lost the lock of ${job} before writing its result (${(cause as { code?: string })?.code ?? String(cause)})`);
    this.name = 'LockLostError';
  }
}

export interface JobRunnerOptions {
  /** Name of this runner, written with every result. Default: `runner-<pid>`. */
  id?: string;
  /** HTTP port. Default: 0 (any free port). */
  port?: number;
  /** Where locks and results live: `<root>/locks/<job>`, `<root>/results/<job>`. Default: `/examples/job-runner`. */
  root?: string;
  /** Simulated work per job, in ms. Default: 200. */
  workMs?: number;
  /** Longest wait for a job's lock, in ms. Default: 10000. */
  lockTimeoutMs?: number;
  /** Session timeout asked of the ensemble, in ms. Default: 10000. */
  sessionTimeoutMs?: number;
  /** Where the runner tells what it does. Default: console.log. */
  log?: (line: string) => void;
}

export interface JobResult {
  job: string;
  runner: string;
  /** The lease's fencing token the result was written with (hex). */
  token: string;
}

export interface JobRunner {
  readonly id: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly client: ZabClient;
  /** The fenced storage the runner writes results to. */
  readonly store: FencedStore;
  /** Runs a job: takes its lock, works, writes the result fenced by the lease's token. */
  runJob(job: string): Promise<JobResult>;
  close(): Promise<void>;
}

/**
 * A job runner service.
 *
 *   POST /jobs/<job>  runs the job under its lock, 200 with the JobResult
 *                     (409 when the lock was lost or the write was fenced off)
 *   GET  /jobs/<job>  the stored result, 404 if none
 */
export async function start(connectString: string, opts: JobRunnerOptions = {}): Promise<JobRunner> {
  const id = opts.id ?? `runner-${process.pid}`;
  const root = opts.root ?? '/examples/job-runner';
  const workMs = opts.workMs ?? 200;
  const log = opts.log ?? ((line: string) => console.log(line));
  const client = await connect(connectString, { sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000 });
  const store = new FencedStore(client, `${root}/results`);
  const mutexes = new Set<Mutex>();

  async function runJob(job: string): Promise<JobResult> {
    // One lock per job; a fresh handle per run (a handle is one owner).
    const mutex = new Mutex(client, `${root}/locks/${job}`);
    mutexes.add(mutex);
    try {
      return await mutex.withLock(
        async (lease) => {
          const token = hex(lease.fencingToken);
          log(`${id}: holds the lock of ${job} (fencing token ${token})`);
          try {
            // The work: lease.signal aborts if ownership is lost (session expired, lock node deleted ...).
            await delay(workMs, undefined, { signal: lease.signal });
            lease.signal.throwIfAborted();
          } catch (err) {
            if (!lease.signal.aborted) throw err;
            log(`${id}: lost the lock of ${job} while working, stopping without writing`);
            throw new LockLostError(job, lease.signal.reason);
          }
          // Every write carries the token; the store refuses it if a later holder has written.
          await store.write(job, lease.fencingToken, { runner: id, finishedAt: new Date().toISOString() });
          log(`${id}: wrote the result of ${job} with token ${token}, releasing`);
          return { job, runner: id, token };
        },
        { timeoutMs: opts.lockTimeoutMs ?? 10_000 },
      );
    } finally {
      mutexes.delete(mutex);
      await mutex.close();
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: String((err as Error)?.message ?? err) }));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = /^\/jobs\/([\w.-]+)$/.exec(req.url ?? '');
    if (!m) return send(res, 404, { error: 'not found' });
    const job = m[1]!;
    if (req.method === 'GET') {
      const record = await store.read(job);
      return record ? send(res, 200, record) : send(res, 404, { error: `no result for ${job}` });
    }
    if (req.method !== 'POST') return send(res, 405, { error: 'use GET or POST' });
    try {
      return send(res, 200, await runJob(job));
    } catch (err) {
      if (err instanceof StaleTokenError || err instanceof LockLostError) return send(res, 409, { error: err.message });
      throw err;
    }
  }

  await listen(server, opts.port ?? 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    id,
    url,
    client,
    store,
    runJob,
    close: () =>
      (closing ??= (async () => {
        await closeServer(server);
        await Promise.all([...mutexes].map((m) => m.close()));
        await client.close();
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
