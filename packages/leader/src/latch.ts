import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import {
  CallScope,
  PROTECTED_PREFIX,
  trigger,
  createProtected,
  hasCode,
  isRetryable,
  mkdirp,
  sortSequential,
  waitForDeletion,
  zabError,
  type CallOptions,
  type ZabClient,
  type ZabError,
} from '@zabkit/client';
import type { CloseOptions, LeaderLatchEvents, LeaderLatchOptions, LeaderTerm, Participant } from './options.js';
import { LATCH_PREFIX, readParticipants } from './participants.js';
import { removeNode, sleep } from '@zabkit/client';

class Term implements LeaderTerm {
  private readonly ctl = new AbortController();
  constructor(
    readonly fencingToken: bigint,
    readonly node: string,
  ) {}
  get signal(): AbortSignal {
    return this.ctl.signal;
  }
  end(reason: ZabError): void {
    this.ctl.abort(reason);
  }
}

type Phase = 'idle' | 'started' | 'closed' | 'failed';

/**
 * Leader latch: every participant keeps an ephemeral-sequential node under
 * `path`; the first in sequence order leads, each other watches only its
 * predecessor. Every term opens with a write to the leader's own node, whose
 * zxid is the term's fencing token, so tokens grow across terms and two terms
 * never share one.
 *
 * ```ts
 * const latch = new LeaderLatch(client, '/election/scheduler', { id: 'worker-1' });
 * latch.on('isLeader', (term) => schedule(term.signal, term.fencingToken));
 * await latch.start();
 * ```
 */
export class LeaderLatch extends EventEmitter<LeaderLatchEvents> {
  private phase: Phase = 'idle';
  private node: string | undefined;
  private term: Term | undefined;
  private failure: ZabError | undefined;
  private readonly stop = new AbortController();
  private waker: AbortController | undefined;
  private generation = 0;
  private suspendTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    readonly client: ZabClient,
    readonly path: string,
    readonly options: LeaderLatchOptions,
  ) {
    super();
    if (typeof options?.id !== 'string') throw new TypeError('LeaderLatch needs an { id } string');
  }

  /** True while this participant leads (a term is open). */
  get hasLeadership(): boolean {
    return this.term !== undefined;
  }
  /** The open term, if leading. */
  get currentTerm(): LeaderTerm | undefined {
    return this.term;
  }
  /** Full path of this participant's latch node (after `start()`). */
  get ourPath(): string | undefined {
    return this.node;
  }

  /** Joins the election; resolves once our latch node exists (leadership may come later: see `waitForLeadership`). */
  async start(opts: CallOptions = {}): Promise<void> {
    if (this.phase !== 'idle') throw zabError('BadArguments', `latch ${this.path} was already started`, { path: this.path });
    this.phase = 'started';
    this.client.on('suspended', this.onSuspended);
    this.client.on('reconnected', this.onReconnected);
    this.client.on('expired', this.onExpired);
    this.client.on('closed', this.onClosed);
    const scope = new CallScope(this.client, `starting latch ${this.path}`, opts, this.stop.signal);
    try {
      await this.join(scope.signal);
    } catch (err) {
      await this.close().catch(() => {});
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
    this.loop = this.run();
  }

  /**
   * Resolves with the term once this participant leads (at once if it does).
   * Rejects with OperationTimeout, Aborted, Closed or SessionExpired.
   */
  waitForLeadership(opts: CallOptions = {}): Promise<LeaderTerm> {
    if (this.term) return Promise.resolve(this.term);
    if (this.failure) return Promise.reject(this.failure);
    if (this.phase === 'closed') return Promise.reject(zabError('Closed', `latch ${this.path} is closed`, { path: this.path }));
    const scope = new CallScope(this.client, `waiting for leadership of ${this.path}`, opts, this.stop.signal);
    return new Promise<LeaderTerm>((resolve, reject) => {
      const done = (): void => {
        scope.signal.removeEventListener('abort', onAbort);
        this.off('isLeader', onLeader);
        scope.dispose();
      };
      const onLeader = (term: LeaderTerm): void => {
        done();
        resolve(term);
      };
      const onAbort = (): void => {
        done();
        // a latch that failed reports why (e.g. SessionExpired) rather than just "closed"
        reject(this.failure ?? scope.signal.reason);
      };
      if (scope.signal.aborted) return onAbort();
      scope.signal.addEventListener('abort', onAbort, { once: true });
      this.on('isLeader', onLeader);
    });
  }

  /** The current leader (first participant), or undefined when there is none. */
  async getLeader(opts: CallOptions = {}): Promise<Participant | undefined> {
    return (await readParticipants(this.client, this.path, opts))[0];
  }

  /** All participants in queue order; the first is the leader. */
  getParticipants(opts: CallOptions = {}): Promise<Participant[]> {
    return readParticipants(this.client, this.path, opts);
  }

  /**
   * Leaves the election: ends the term (`notLeader` if leading), deletes the
   * latch node (the next participant takes over) and, with `handOn`, waits
   * until that participant's term is committed. The successor's own latch
   * reports it (`isLeader`, `waitForLeadership`) once its server has applied
   * that write, which may be a moment later. Idempotent.
   */
  async close(opts: CloseOptions = {}): Promise<void> {
    const wasStarted = this.phase === 'started';
    if (this.phase !== 'failed') this.phase = 'closed';
    this.detach();
    this.stop.abort();
    this.endTerm(zabError('Closed', `latch ${this.path} closed`, { path: this.path }));
    const node = this.node;
    this.node = undefined;
    if (node !== undefined) await removeNode(this.client, node);
    await this.loop;
    if (wasStarted && opts.handOn) await this.awaitSuccessor(opts);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ------------------------------------------------------------

  /** Creates our node with the shared GUID-protected create; cleans up after an unknown outcome. */
  private async join(signal: AbortSignal): Promise<void> {
    const guid = randomUUID();
    const prefix = `${this.path}/${LATCH_PREFIX}`;
    const create = (): Promise<string> => createProtected(this.client, prefix, this.options.id, 'ephemeral-sequential', { signal, guid });
    try {
      try {
        this.node = await create();
      } catch (err) {
        if (!hasCode(err, 'NoNode')) throw err;
        await mkdirp(this.client, this.path, { signal });
        this.node = await create();
      }
    } catch (err) {
      void this.cleanup(guid);
      throw err;
    }
  }

  private async cleanup(guid: string): Promise<void> {
    const mark = `${PROTECTED_PREFIX}${guid}-`;
    for (let i = 0; i < 20; i++) {
      if (this.client.state === 'expired' || this.client.state === 'closed') return;
      try {
        for (const c of await this.client.getChildren(this.path)) if (c.startsWith(mark)) await removeNode(this.client, `${this.path}/${c}`);
        return;
      } catch (err) {
        if (!isRetryable(err)) return;
        await sleep(Math.min(1000, 50 * 2 ** i));
      }
    }
  }

  private async run(): Promise<void> {
    const stop = this.stop.signal;
    for (let failures = 0; !stop.aborted; ) {
      const gen = this.generation;
      try {
        if (this.node === undefined) await this.join(stop);
        const node = this.node!;
        const sorted = sortSequential(await this.client.getChildren(this.path, { signal: stop }), LATCH_PREFIX);
        const index = sorted.indexOf(node.slice(this.path.length + 1));
        if (index === -1) {
          // our node is gone (deleted by someone): the term ends, join again
          this.endTerm(zabError('NoNode', `latch node ${node} disappeared`, { path: node }));
          this.node = undefined;
          continue;
        }
        if (index === 0 && !this.term) await this.lead(node, gen, stop);
        this.waker = new AbortController();
        if (gen !== this.generation) continue; // reconnected meanwhile: look again
        const watched = index === 0 ? node : `${this.path}/${sorted[index - 1]!}`;
        await waitForDeletion(this.client, watched, { signal: AbortSignal.any([stop, this.waker.signal]) });
        failures = 0;
      } catch (err) {
        if (stop.aborted) return;
        if (hasCode(err, 'Aborted')) continue; // woken up
        if (hasCode(err, 'SessionExpired') || hasCode(err, 'Closed')) return this.fail(err);
        if (!isRetryable(err)) this.emit('error', err);
        await sleep(Math.min(1000, 50 * 2 ** failures++), stop).catch(() => {});
      }
    }
  }

  /** Opens a term: a write to our own node whose zxid becomes the fencing token. */
  private async lead(node: string, gen: number, stop: AbortSignal): Promise<void> {
    const stat = await this.client.setData(node, this.options.id, { signal: stop });
    // Suspended or reconnected while writing: no term now; the loop looks again.
    if (stop.aborted || gen !== this.generation || this.client.state !== 'connected' || this.node !== node) return;
    const term = new Term(stat.mzxid, node);
    this.term = term;
    this.emit('isLeader', term);
  }

  private endTerm(reason: ZabError): void {
    const term = this.term;
    if (!term) return;
    this.term = undefined;
    if (this.suspendTimer) clearTimeout(this.suspendTimer);
    this.suspendTimer = undefined;
    term.end(reason);
    this.emit('notLeader', reason);
  }

  private fail(err: ZabError): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    this.failure = err;
    this.phase = 'failed';
    this.endTerm(err);
    this.detach();
    this.stop.abort();
  }

  private poke(): void {
    this.generation++;
    this.waker?.abort();
  }

  private readonly onSuspended = (): void => {
    if (!this.term) return;
    const ms = this.options.lostAfterSuspendedMs ?? 0;
    const reason = (): ZabError => zabError('ConnectionLoss', `client suspended for more than ${ms} ms: leadership of ${this.path} dropped`, { path: this.path });
    if (ms <= 0) return this.endTerm(reason());
    if (Number.isFinite(ms) && !this.suspendTimer) this.suspendTimer = setTimeout(() => this.endTerm(reason()), ms);
  };
  private readonly onReconnected = (): void => {
    if (this.suspendTimer) clearTimeout(this.suspendTimer);
    this.suspendTimer = undefined;
    this.poke();
  };
  private readonly onExpired = (): void => this.fail(zabError('SessionExpired', `session expired: latch ${this.path} ended`, { path: this.path }));
  private readonly onClosed = (): void => this.fail(zabError('Closed', `client closed: latch ${this.path} ended`, { path: this.path }));

  private detach(): void {
    this.client.off('suspended', this.onSuspended);
    this.client.off('reconnected', this.onReconnected);
    this.client.off('expired', this.onExpired);
    this.client.off('closed', this.onClosed);
  }

  /** The successor has opened its term once its node was written (version > 0): every term starts with that write. */
  private async awaitSuccessor(opts: CloseOptions): Promise<void> {
    const scope = new CallScope(this.client, `handing on leadership of ${this.path}`, opts);
    try {
      for (;;) {
        const children = sortSequential(await this.client.getChildren(this.path, { signal: scope.signal }), LATCH_PREFIX);
        const first = children[0];
        if (first === undefined) return;
        const changed = trigger();
        const stat = await this.client.exists(`${this.path}/${first}`, { signal: scope.signal, watch: changed.fire });
        if (stat !== null && stat.version > 0) return;
        if (stat === null) continue;
        // fires when the successor writes (opens its term) or leaves (then the next one is first)
        await scope.until(changed.fired);
      }
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
  }
}
