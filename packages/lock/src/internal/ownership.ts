import { waitForDeletion, zabError, type Stat, type ZabClient, type ZabError } from '@zabkit/client';
import { removeNode } from './node.js';

/**
 * Watches one owned node and aborts `signal` when ownership is lost: session
 * expired, client closed, suspended past the policy, or the node deleted.
 * A lost node is deleted once the session is back (it must not keep blocking).
 */
export class Ownership {
  private readonly ctl = new AbortController();
  private readonly watchCtl = new AbortController();
  private suspendTimer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly client: ZabClient,
    readonly path: string,
    readonly stat: Stat,
    private readonly lostAfterSuspendedMs: number | undefined,
    private readonly onLost: (reason: ZabError) => void = () => {},
  ) {
    client.on('suspended', this.onSuspended);
    client.on('reconnected', this.onReconnected);
    client.on('expired', this.onExpired);
    client.on('closed', this.onClosed);
    if (client.state === 'suspended') this.onSuspended();
    waitForDeletion(client, path, { signal: this.watchCtl.signal }).then(
      () => this.lose(zabError('NoNode', `lock node ${path} was deleted`, { path })),
      (err: ZabError) => {
        if (err.code !== 'Aborted') this.lose(err);
      },
    );
  }

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  get active(): boolean {
    return !this.done;
  }

  /** Gives the node up; resolves once it is deleted (or goes with the session). */
  async release(): Promise<void> {
    if (this.done) return;
    this.detach();
    if (!(await removeNode(this.client, this.path))) {
      throw zabError('ConnectionLoss', `could not delete ${this.path}; it goes when the session ends`, { path: this.path });
    }
  }

  private readonly onSuspended = (): void => {
    const ms = this.lostAfterSuspendedMs ?? this.client.sessionTimeoutMs;
    const reason = (): ZabError => zabError('ConnectionLoss', `client suspended for more than ${ms} ms: ownership of ${this.path} is lost`, { path: this.path });
    if (ms <= 0) return this.lose(reason());
    if (!Number.isFinite(ms) || this.suspendTimer) return;
    this.suspendTimer = setTimeout(() => this.lose(reason()), ms);
  };

  private readonly onReconnected = (): void => {
    if (this.suspendTimer) clearTimeout(this.suspendTimer);
    this.suspendTimer = undefined;
  };

  private readonly onExpired = (): void => this.lose(zabError('SessionExpired', `session expired: ownership of ${this.path} is lost`, { path: this.path }));
  private readonly onClosed = (): void => this.lose(zabError('Closed', `client closed: ownership of ${this.path} is lost`, { path: this.path }));

  private lose(reason: ZabError): void {
    if (this.done) return;
    this.detach();
    this.ctl.abort(reason);
    this.onLost(reason);
    void removeNode(this.client, this.path);
  }

  private detach(): void {
    this.done = true;
    if (this.suspendTimer) clearTimeout(this.suspendTimer);
    this.client.off('suspended', this.onSuspended);
    this.client.off('reconnected', this.onReconnected);
    this.client.off('expired', this.onExpired);
    this.client.off('closed', this.onClosed);
    this.watchCtl.abort();
  }
}
