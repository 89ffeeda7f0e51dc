import pRetry, { AbortError } from 'p-retry';
import type { EventEmitter } from 'eventemitter3';
import {
  FrameKind,
  OpCode,
  PROTOCOL_VERSION,
  frameLimitFor,
  requestDataBytes,
  validateRequest,
  withoutChroot,
  type ConnectedFrame,
  type EventFrame,
  type MultiResult,
  type Request,
  type ResponseBody,
  type ResponseFrame,
  type ServerFrame,
  type Zxid,
} from '@zabkit/protocol';
import { Connection } from './connection.js';
import { formatAddress, type ServerAddress } from './connect-string.js';
import { ZabError, zabError } from './errors.js';
import type { ClientEvents, ClientState } from './events.js';
import { fromWireResult } from './ops.js';
import type { ResolvedOptions } from './options.js';
import { WatchRegistry } from './watches.js';
import { RequestTable, pathOpt, type Pending, type SubmitOptions } from './pending.js';

export type { SubmitOptions } from './pending.js';

const now = (): number => performance.now();

/** The session engine: one live connection at a time, pipelined requests, pings, reconnection, expiry. */
export class Session {
  readonly watches = new WatchRegistry();
  state: ClientState = 'connecting';
  sessionId = 0n;
  sessionTimeoutMs: number;
  lastZxidSeen: Zxid = 0n;
  /**
   * Highest zxid seen on the reply/event stream (not from handshakes): every
   * watched change up to it has been delivered, so it is the safe base for
   * setWatches. The handshake's zxid must not count: if the socket dropped
   * before setWatches was answered, changes in between would be missed.
   */
  private streamZxid: Zxid = 0n;
  serverAddress: string | undefined;

  private passwd: Uint8Array = new Uint8Array(0);
  private serverMaxDataBytes: number | undefined;
  private conn: Connection | undefined;
  private readonly requests = new RequestTable();
  private cursor = 0;
  private lastSend = 0;
  private lastRecv = 0;
  private pingOutstanding = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly stop = new AbortController();
  private closePromise: Promise<void> | undefined;

  constructor(
    private readonly servers: ServerAddress[],
    readonly chroot: string,
    private readonly opts: ResolvedOptions,
    private readonly emitter: EventEmitter<ClientEvents>,
  ) {
    this.sessionTimeoutMs = opts.sessionTimeoutMs;
  }

  get maxDataBytes(): number {
    return this.serverMaxDataBytes ?? this.opts.maxDataBytes;
  }

  /** Establishes the first session; rejects with a ZabError (Aborted, ConnectionLoss, ...). */
  async start(signal: AbortSignal | undefined): Promise<void> {
    const sig = signal ? AbortSignal.any([signal, this.stop.signal]) : this.stop.signal;
    try {
      await this.connectLoop(this.opts.retry.retries, sig);
    } catch (err) {
      this.shutdown(zabError('Closed', 'client closed'));
      if (signal?.aborted) throw zabError('Aborted', 'connect aborted', { cause: signal.reason });
      throw err instanceof ZabError ? err : zabError('ConnectionLoss', 'could not connect', { cause: err });
    }
  }

  submit(req: Request, o: SubmitOptions = {}): Promise<ResponseBody> {
    if (this.closing || this.state === 'closed') return Promise.reject(zabError('Closed', 'client is closed', pathOpt(o.path)));
    if (this.state === 'expired') return Promise.reject(zabError('SessionExpired', 'session expired', pathOpt(o.path)));
    return this.enqueue(req, o);
  }

  private enqueue(req: Request, o: SubmitOptions): Promise<ResponseBody> {
    const size = requestDataBytes(req);
    if (size > this.maxDataBytes) {
      return Promise.reject(
        zabError('RequestTooLarge', `request carries ${size} bytes of data, the limit is ${this.maxDataBytes}`, pathOpt(o.path)),
      );
    }
    const problem = validateRequest(req);
    if (problem !== null) return Promise.reject(zabError('BadArguments', problem, pathOpt(o.path)));
    if (o.signal?.aborted) return Promise.reject(zabError('Aborted', 'request aborted', { ...pathOpt(o.path), cause: o.signal.reason }));

    return this.requests.create(req, o, this.opts.requestTimeoutMs, (p) => {
      if (this.state === 'connected' && this.conn) this.send(p);
      else this.requests.queue(p);
    });
  }

  private send(p: Pending): void {
    const xid = this.requests.assign(p);
    this.lastSend = now();
    this.conn?.send({ k: FrameKind.request, xid, req: p.req });
  }

  /** Sends an internal request (ping, setWatches) that has no caller waiting. */
  private sendInternal(req: Request, onReply?: (body: ResponseBody) => void, onError?: (err: ZabError) => void): void {
    this.send({
      req,
      path: undefined,
      resolve: () => {},
      reject: (err) => onError?.(err),
      onReply,
      cleanup: () => {},
    });
  }

  // ---- connecting ---------------------------------------------------------

  private async connectLoop(retries: number, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    await pRetry(
      // One attempt is a pass over the server list: during a leader election every
      // server refuses for a moment, and backing off between single servers would
      // leave a client idle long after the ensemble serves again (ZooKeeper too
      // sleeps only after it tried every server).
      async () => {
        let last: unknown;
        for (let i = 0; i < this.servers.length; i++) {
          if (this.closing) throw new AbortError(zabError('Closed', 'client closed'));
          attempt++;
          const address = this.servers[this.cursor++ % this.servers.length]!;
          this.emitter.emit('connecting', { server: formatAddress(address), attempt });
          try {
            await this.attempt(address, signal);
            return;
          } catch (err) {
            if (err instanceof ZabError && (err.code === 'SessionExpired' || err.code === 'Aborted' || err.code === 'Closed')) {
              throw new AbortError(err);
            }
            this.opts.logger?.debug?.(`zabkit client: connect to ${formatAddress(address)} failed: ${(err as Error).message}`);
            last = err;
          }
        }
        throw last;
      },
      {
        retries,
        minTimeout: this.opts.retry.minTimeout,
        maxTimeout: this.opts.retry.maxTimeout,
        factor: this.opts.retry.factor,
        randomize: this.opts.retry.randomize,
        signal,
      },
    );
  }

  private async attempt(address: ServerAddress, signal: AbortSignal): Promise<void> {
    const maxFrameBytes = frameLimitFor(Math.max(this.opts.maxDataBytes, this.serverMaxDataBytes ?? 0));
    const { conn, connected } = await Connection.open(
      address,
      {
        k: FrameKind.connect,
        protocolVersion: PROTOCOL_VERSION,
        lastZxidSeen: this.lastZxidSeen,
        timeoutMs: this.opts.sessionTimeoutMs,
        sessionId: this.sessionId,
        passwd: this.passwd,
      },
      { timeoutMs: this.opts.connectTimeoutMs, maxFrameBytes, logger: this.opts.logger, signal },
    );
    if (this.closing || signal.aborted) {
      conn.close();
      throw zabError(this.closing ? 'Closed' : 'Aborted', 'connect abandoned');
    }
    const reconnect = this.sessionId !== 0n;
    if (reconnect && connected.sessionId !== this.sessionId) {
      conn.close();
      throw zabError('SessionExpired', `server ${conn.address} did not resume session 0x${this.sessionId.toString(16)}`);
    }
    this.adopt(conn, connected, reconnect);
  }

  private adopt(conn: Connection, c: ConnectedFrame, reconnect: boolean): void {
    this.conn = conn;
    this.serverAddress = conn.address;
    this.sessionId = c.sessionId;
    this.passwd = c.passwd;
    this.sessionTimeoutMs = c.timeoutMs;
    if (Number.isInteger(c.maxDataBytes) && c.maxDataBytes > 0) this.serverMaxDataBytes = c.maxDataBytes;
    this.seeZxid(c.zxid, false);
    this.lastRecv = this.lastSend = now();
    this.pingOutstanding = false;
    this.setState('connected');
    if (reconnect && this.watches.size > 0) {
      const w = this.watches.paths();
      this.sendInternal(
        { op: OpCode.setWatches, relativeZxid: this.streamZxid, ...w },
        undefined,
        (err) => this.opts.logger?.warn(`zabkit client: re-registering watches failed: ${err.message}`),
      );
    }
    for (const p of this.requests.takeQueued()) this.send(p);
    this.startPings();
    if (reconnect) this.emitter.emit('reconnected', { server: conn.address });
    else this.emitter.emit('connected', { server: conn.address, sessionId: c.sessionId, sessionTimeoutMs: c.timeoutMs });
    if (this.conn === conn) conn.attach({ onFrame: (f) => this.onFrame(conn, f), onLost: (r) => this.onLost(conn, r) });
  }

  // ---- traffic --------------------------------------------------------------

  private onFrame(conn: Connection, f: ServerFrame): void {
    if (conn !== this.conn) return;
    this.lastRecv = now();
    if (f.k === FrameKind.response) this.onResponse(f);
    else if (f.k === FrameKind.event) this.onEvent(f);
    else this.opts.logger?.debug?.(`zabkit client: ignoring frame kind ${f.k} from ${conn.address}`);
  }

  private onResponse(f: ResponseFrame): void {
    if (typeof f.zxid === 'bigint') this.seeZxid(f.zxid);
    if (f.op === OpCode.ping) this.pingOutstanding = false;
    const p = this.requests.take(f.xid);
    if (!p) return; // timed out or aborted: a late reply is ignored
    p.cleanup();
    if (f.err !== undefined && f.err !== 'Ok') {
      p.reject(this.errorOf(f, p.path));
      if (f.err === 'SessionExpired') this.expire(zabError('SessionExpired', f.message || 'session expired'));
      return;
    }
    const body = (f.body ?? {}) as ResponseBody;
    try {
      p.onReply?.(body);
    } catch (err) {
      this.opts.logger?.warn('zabkit client: reply hook failed', err);
    }
    p.resolve(body);
  }

  private errorOf(f: ResponseFrame, path: string | undefined): ZabError {
    const results = (f.body as { results?: MultiResult[] } | undefined)?.results;
    if (!Array.isArray(results)) return ZabError.from(f.err!, f.message ?? '', path);
    const converted = results.map((r) => fromWireResult(r, this.chroot));
    const idx = converted.findIndex((r) => r.type === 'error' && r.code !== 'RuntimeInconsistency' && r.code !== 'Ok');
    return ZabError.from(f.err!, f.message ?? '', undefined, { results: converted, failedOpIndex: idx === -1 ? 0 : idx });
  }

  private onEvent(f: EventFrame): void {
    if (typeof f.zxid === 'bigint') this.seeZxid(f.zxid);
    const path = withoutChroot(this.chroot, f.path);
    for (const w of this.watches.take(f.type, f.path)) {
      try {
        w({ type: f.type, path });
      } catch (err) {
        this.opts.logger?.warn(`zabkit client: watcher for ${path} threw`, err);
      }
    }
  }

  private seeZxid(z: Zxid, stream = true): void {
    if (typeof z !== 'bigint') return;
    if (z > this.lastZxidSeen) this.lastZxidSeen = z;
    if (stream && z > this.streamZxid) this.streamZxid = z;
  }

  private startPings(): void {
    this.stopPings();
    const t = this.sessionTimeoutMs;
    const every = Math.max(10, Math.min(1000, Math.floor(t / 10)));
    this.pingTimer = setInterval(() => {
      const conn = this.conn;
      if (!conn || this.state !== 'connected') return;
      const n = now();
      if (n - this.lastRecv > (t * 2) / 3) {
        conn.close();
        this.onLost(conn, `no traffic from ${conn.address} for ${Math.round(n - this.lastRecv)} ms`);
      } else if (n - this.lastSend >= t / 3 || (n - this.lastRecv >= t / 3 && !this.pingOutstanding)) {
        this.pingOutstanding = true;
        this.sendInternal({ op: OpCode.ping });
      }
    }, every);
    this.pingTimer.unref?.();
  }

  private stopPings(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  // ---- loss, expiry, close --------------------------------------------------

  private onLost(conn: Connection, reason: string): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.serverAddress = undefined;
    this.stopPings();
    if (this.closing) {
      this.failAll(() => zabError('ConnectionLoss', `connection lost while closing (${reason})`));
      return;
    }
    if (this.state !== 'connected') return;
    this.setState('suspended');
    const inflight = this.requests.takeInflight();
    this.emitter.emit('suspended', { reason });
    for (const p of inflight) {
      p.cleanup();
      p.reject(zabError('ConnectionLoss', `connection lost (${reason}); the request may or may not have been applied`, pathOpt(p.path)));
    }
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    try {
      await this.connectLoop(Infinity, this.stop.signal);
    } catch (err) {
      if (this.closing || this.state === 'closed') return;
      const e = err instanceof ZabError ? err : zabError('ConnectionLoss', 'reconnect failed', { cause: err });
      if (e.code === 'SessionExpired') this.expire(e);
      else {
        this.opts.logger?.warn(`zabkit client: giving up reconnecting: ${e.message}`);
        this.expire(zabError('SessionExpired', `could not resume the session: ${e.message}`, { cause: e }));
      }
    }
  }

  private expire(err: ZabError): void {
    if (this.state === 'expired' || this.state === 'closed') return;
    this.watches.clear();
    this.conn?.close();
    this.conn = undefined;
    this.stopPings();
    this.stop.abort();
    this.setState('expired');
    this.failAll(() => zabError('SessionExpired', err.message));
    this.emitter.emit('expired', err);
  }

  close(timeoutMs?: number): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closePromise = (async () => {
      const wasConnected = this.state === 'connected' && this.conn !== undefined;
      this.closing = true;
      this.stop.abort();
      if (wasConnected) {
        try {
          await this.enqueue({ op: OpCode.closeSession }, { timeoutMs: timeoutMs ?? this.opts.requestTimeoutMs });
        } catch (err) {
          this.opts.logger?.debug?.(`zabkit client: closeSession failed: ${(err as Error).message}`);
        }
      }
      this.shutdown(zabError('Closed', 'client closed'));
    })();
    return this.closePromise;
  }

  private shutdown(err: ZabError): void {
    this.closing = true;
    this.stop.abort();
    this.stopPings();
    this.conn?.close();
    this.conn = undefined;
    this.serverAddress = undefined;
    this.watches.clear();
    this.failAll(() => err);
    if (this.state !== 'closed') {
      this.setState('closed');
      this.emitter.emit('closed');
    }
  }

  private failAll(make: () => ZabError): void {
    const all = this.requests.takeAll();
    for (const p of all) {
      p.cleanup();
      p.reject(make());
    }
  }

  private setState(s: ClientState): void {
    const prev = this.state;
    if (prev === s) return;
    this.state = s;
    this.emitter.emit('state', s, prev);
  }
}
