// Faults injected into a LocalCluster of real server processes, on a schedule
// drawn from the run's seed. Timers here are the nemesis clock (when to strike,
// how long to hold a fault), not synchronisation.
import type { LocalCluster } from 'zabkit';
import type { Proxy } from '../support/proxy.js';
import { Rng } from '../support/rng.js';

export type FaultKind =
  /** SIGKILL a random node, restart it. */
  | 'kill'
  /** SIGKILL the current leader, restart it. */
  | 'kill-leader'
  /** SIGKILL a minority (1 of 3, 2 of 5) at once, restart them. */
  | 'kill-minority'
  /** SIGSTOP a random node, SIGCONT it. */
  | 'pause'
  /** SIGSTOP the current leader, SIGCONT it. */
  | 'pause-leader'
  /** SIGKILL every node, start them all again. */
  | 'restart-all'
  /** Cut the clients off from some servers (the TCP proxies in front of their client ports), restore. */
  | 'partition-clients'
  /** Delay the client links of some servers (their TCP proxies hold every chunk 50-800 ms, one direction or both), restore. */
  | 'delay-clients';

export const ALL_FAULTS: readonly FaultKind[] = ['kill', 'kill-leader', 'kill-minority', 'pause', 'pause-leader', 'restart-all', 'partition-clients', 'delay-clients'];

export interface PlannedFault {
  /** Quiet time before the fault strikes (ms). */
  quietMs: number;
  kind: FaultKind;
  /** How long the fault holds before it is healed (ms). */
  holdMs: number;
}

/** What actually happened, for the run report. */
export interface FaultLogEntry {
  kind: FaultKind;
  nodes: number[];
  /** delay-clients: the delay and direction. */
  detail?: string;
  /** ms since the workload started. */
  at: number;
  holdMs: number;
  healedAt?: number;
  error?: string;
}

/** A schedule filling about `durationMs`: quiet, fault, hold, heal, quiet, ... */
export function planFaults(rng: Rng, kinds: readonly FaultKind[], durationMs: number): PlannedFault[] {
  const plan: PlannedFault[] = [];
  let t = 0;
  for (;;) {
    const quietMs = rng.int(800, 2000);
    const kind = rng.pick(kinds);
    const holdMs = kind === 'restart-all' ? rng.int(300, 1500) : rng.int(1000, 3000);
    // Restarting nodes takes about a second on top of the hold.
    const cost = quietMs + holdMs + (kind.startsWith('kill') || kind === 'restart-all' ? 1500 : 0);
    if (t + cost > durationMs) break;
    plan.push({ quietMs, kind, holdMs });
    t += cost;
  }
  return plan;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class Nemesis {
  readonly log: FaultLogEntry[] = [];
  private readonly ids: number[];
  private readonly t0 = Date.now();

  constructor(
    private readonly cluster: LocalCluster,
    private readonly proxies: Map<number, Proxy>,
    private readonly rng: Rng,
  ) {
    this.ids = cluster.nodes.map((n) => n.id);
  }

  /** Runs the plan; `signal` cuts the remaining quiet/hold times short (the fault in hand is still healed). */
  async run(plan: readonly PlannedFault[], signal?: AbortSignal): Promise<void> {
    for (const p of plan) {
      await sleep(p.quietMs, signal);
      if (signal?.aborted) return;
      const entry: FaultLogEntry = { kind: p.kind, nodes: [], at: Date.now() - this.t0, holdMs: p.holdMs };
      this.log.push(entry);
      try {
        const heal = await this.strike(p.kind, entry);
        await sleep(p.holdMs, signal);
        await heal();
      } catch (err) {
        entry.error = (err as Error).message;
        throw err;
      }
      entry.healedAt = Date.now() - this.t0;
    }
  }

  /** Injects one fault and returns how to heal it. */
  private async strike(kind: FaultKind, entry: FaultLogEntry): Promise<() => Promise<void>> {
    const minority = Math.floor((this.ids.length - 1) / 2);
    const leaderOr = async (): Promise<number> => (await this.cluster.leaderId({ timeoutMs: 500 })) ?? this.rng.pick(this.ids);
    switch (kind) {
      case 'kill':
      case 'kill-leader':
      case 'kill-minority': {
        const nodes = kind === 'kill' ? [this.rng.pick(this.ids)] : kind === 'kill-leader' ? [await leaderOr()] : this.rng.sample(this.ids, minority);
        entry.nodes = nodes;
        await Promise.all(nodes.map((id) => this.cluster.kill(id)));
        return () => this.start(nodes);
      }
      case 'pause':
      case 'pause-leader': {
        const id = kind === 'pause' ? this.rng.pick(this.ids) : await leaderOr();
        entry.nodes = [id];
        if (this.cluster.isRunning(id)) this.cluster.pause(id);
        return async () => this.cluster.resume(id);
      }
      case 'restart-all': {
        entry.nodes = [...this.ids];
        await Promise.all(this.ids.map((id) => this.cluster.kill(id)));
        return () => this.start(this.ids);
      }
      case 'partition-clients': {
        const nodes = this.rng.sample(this.ids, this.rng.int(1, this.ids.length - 1));
        entry.nodes = nodes;
        for (const id of nodes) this.proxies.get(id)?.cut();
        return async () => {
          for (const id of nodes) this.proxies.get(id)?.restore();
        };
      }
      case 'delay-clients': {
        const nodes = this.rng.sample(this.ids, this.rng.int(1, this.ids.length));
        const ms = this.rng.int(50, 800);
        const direction = this.rng.pick(['up', 'down', 'both'] as const);
        entry.nodes = nodes;
        entry.detail = `${ms} ms ${direction}`;
        for (const id of nodes) this.proxies.get(id)?.delay(ms, direction);
        return async () => {
          for (const id of nodes) this.proxies.get(id)?.delay(0);
        };
      }
    }
  }

  private async start(ids: readonly number[]): Promise<void> {
    await Promise.all(ids.filter((id) => !this.cluster.isRunning(id)).map((id) => this.cluster.startNode(id)));
  }

  /** Undoes everything: resumes paused nodes, starts dead ones, restores every proxy. */
  async healAll(): Promise<void> {
    for (const id of this.ids) this.cluster.resume(id);
    for (const p of this.proxies.values()) p.restore();
    await this.start(this.ids);
  }
}

export function formatSchedule(log: readonly FaultLogEntry[]): string {
  if (log.length === 0) return '(no faults)';
  return log
    .map((e) => `+${(e.at / 1000).toFixed(1)}s ${e.kind} [${e.nodes.map((n) => `n${n}`).join(',')}]${e.detail ? ` (${e.detail})` : ''} for ${(e.holdMs / 1000).toFixed(1)}s${e.error ? ` (error: ${e.error})` : ''}`)
    .join('\n    ');
}

/**
 * Runs the fault plan while the workload goes on for `durationMs` (the plan may end early: the workload
 * keeps going, healthy, until the duration is over), then heals everything and waits for a leader
 * followed by every other server.
 */
export async function runFaultWindow(
  nemesis: Nemesis,
  plan: PlannedFault[],
  durationMs: number,
  cluster: { waitForLeader(o: { timeoutMs: number; minFollowers: number }): Promise<unknown> },
  nodes: number,
): Promise<void> {
  const done = new AbortController();
  const timer = setTimeout(() => done.abort(), durationMs);
  try {
    await nemesis.run(plan, done.signal);
    await new Promise<void>((r) => (done.signal.aborted ? r() : done.signal.addEventListener('abort', () => r(), { once: true })));
  } finally {
    clearTimeout(timer);
    await nemesis.healAll();
  }
  await cluster.waitForLeader({ timeoutMs: 30_000, minFollowers: nodes - 1 });
}
