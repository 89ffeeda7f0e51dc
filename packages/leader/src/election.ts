import { EventEmitter } from 'eventemitter3';
import { zabError, type CallOptions, type ZabClient, type ZabError } from '@zabkit/client';
import { LeaderLatch } from './latch.js';
import type { LeaderTerm, Participant } from './options.js';
import { readParticipants } from './participants.js';

/** Options of `LeaderElection`. */
export interface LeaderElectionOptions {
  /** This participant's id (see `LeaderLatchOptions.id`). Required. Example: `{ id: 'worker-1' }`. */
  id: string;
  /**
   * Runs while this participant leads. Leadership is given up (the next
   * participant takes over) when it returns or throws. Stop promptly when
   * `signal` aborts: the term has ended (suspension past the policy, expiry,
   * `close()`). Required. Example: `async (signal, term) => { while (!signal.aborted) await tick(term.fencingToken); }`.
   */
  takeLeadership(signal: AbortSignal, term: LeaderTerm): Promise<void> | void;
  /**
   * Join the queue again (at its end) after each term, so leaders rotate.
   * Default: `true`. Example: `{ autoRequeue: false }` and call `requeue()` yourself.
   */
  autoRequeue?: boolean;
  /** See `LeaderLatchOptions.lostAfterSuspendedMs`. Default: `0` (drop on suspension). */
  lostAfterSuspendedMs?: number;
}

/** Typed events of `LeaderElection`. */
export interface LeaderElectionEvents {
  /** A term starts (right before `takeLeadership` is called). */
  isLeader: [term: LeaderTerm];
  /** A term ended (its signal aborted), or `takeLeadership` returned. */
  notLeader: [reason: ZabError];
  /** `takeLeadership` threw, or the latch hit a problem. */
  error: [error: unknown];
}

/**
 * Selector-style election: `takeLeadership(signal, term)` runs on the leader;
 * when it returns, leadership passes to the next participant and (with
 * `autoRequeue`) this one joins the queue again at its end.
 *
 * ```ts
 * const election = new LeaderElection(client, '/election/reports', {
 *   id: 'worker-1',
 *   takeLeadership: async (signal, term) => { await runReports(signal, term.fencingToken); },
 * });
 * await election.start();
 * ```
 */
export class LeaderElection extends EventEmitter<LeaderElectionEvents> {
  private latch: LeaderLatch | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(
    readonly client: ZabClient,
    readonly path: string,
    readonly options: LeaderElectionOptions,
  ) {
    super();
    if (typeof options?.takeLeadership !== 'function') throw new TypeError('LeaderElection needs a takeLeadership function');
  }

  /** True while `takeLeadership` runs under an open term. */
  get hasLeadership(): boolean {
    return this.latch?.hasLeadership ?? false;
  }

  /** Joins the queue. */
  async start(opts: CallOptions = {}): Promise<void> {
    await this.requeue(opts);
  }

  /** Joins the queue again if this participant is not in it (for `autoRequeue: false`). Returns false if already queued. */
  async requeue(opts: CallOptions = {}): Promise<boolean> {
    if (this.closed) throw zabError('Closed', `election ${this.path} is closed`, { path: this.path });
    if (this.latch) return false;
    const latch = new LeaderLatch(this.client, this.path, { id: this.options.id, ...lostOpt(this.options) });
    this.latch = latch;
    latch.on('isLeader', (term) => {
      if (this.latch !== latch || this.running) return;
      this.running = this.lead(latch, term);
    });
    latch.on('notLeader', (reason) => this.emit('notLeader', reason));
    latch.on('error', (err) => this.emit('error', err));
    try {
      await latch.start(opts);
    } catch (err) {
      if (this.latch === latch) this.latch = undefined;
      throw err;
    }
    return true;
  }

  getLeader(opts: CallOptions = {}): Promise<Participant | undefined> {
    return readParticipants(this.client, this.path, opts).then((p) => p[0]);
  }

  getParticipants(opts: CallOptions = {}): Promise<Participant[]> {
    return readParticipants(this.client, this.path, opts);
  }

  /**
   * Aborts a running term's signal, waits for `takeLeadership` to return and
   * only then leaves the queue, so the next leader never overlaps this one.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(zabError('Closed', `election ${this.path} closed`, { path: this.path }));
    await this.running;
    const latch = this.latch;
    this.latch = undefined;
    await latch?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async lead(latch: LeaderLatch, term: LeaderTerm): Promise<void> {
    this.emit('isLeader', term);
    try {
      await this.options.takeLeadership(AbortSignal.any([term.signal, this.closing.signal]), term);
    } catch (err) {
      this.emit('error', err);
    }
    // Give the leadership up: the next participant takes over.
    if (this.latch === latch) this.latch = undefined;
    await latch.close().catch((err: unknown) => this.emit('error', err));
    this.running = undefined;
    if ((this.options.autoRequeue ?? true) && !this.closed && this.client.state !== 'expired' && this.client.state !== 'closed') {
      await this.requeue().catch((err: unknown) => this.emit('error', err));
    }
  }
}

function lostOpt(o: LeaderElectionOptions): { lostAfterSuspendedMs?: number } {
  return o.lostAfterSuspendedMs === undefined ? {} : { lostAfterSuspendedMs: o.lostAfterSuspendedMs };
}
