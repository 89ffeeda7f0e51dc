import { EventEmitter } from 'eventemitter3';
import {
  OpCode,
  pathProblem,
  withChroot,
  withoutChroot,
  type CreateMode,
  type Request,
  type ResponseBodies,
  type ResponseBody,
  type Stat,
  type Zxid,
} from '@zabkit/protocol';
import { parseConnectString } from './connect-string.js';
import { bytesToString, toBytes, type DataInput } from './data.js';
import { ZabError, zabError } from './errors.js';
import type { ClientEvents, ClientState } from './events.js';
import { fromWireResult, toWireOps, type Op, type OpResult } from './ops.js';
import { resolveOptions, type CallOptions, type ConnectOptions } from './options.js';
import { Session, type SubmitOptions } from './session.js';
import { Transaction } from './transaction.js';
import type { Watcher, WatchKind } from './watches.js';

export interface CreateOptions extends CallOptions {
  /** Default 'persistent'. */
  mode?: CreateMode;
  /** Required for 'ttl' and 'ttl-sequential' modes. */
  ttlMs?: number;
}
export interface VersionOptions extends CallOptions {
  /** Expected version; -1 (the default) matches any. */
  version?: number;
}
export interface WatchOptions extends CallOptions {
  /** One-shot watch, called once with the event that fires it. */
  watch?: Watcher;
}

/**
 * A session with a zabkit ensemble. Create it with `connect()`. Paths are
 * relative to the connect string's chroot, if any.
 */
export class ZabClient extends EventEmitter<ClientEvents> {
  /** @internal */
  readonly session: Session;

  /** @internal use `connect()` */
  constructor(connectString: string, options: ConnectOptions = {}) {
    super();
    const { servers, chroot } = parseConnectString(connectString);
    const opts = resolveOptions(options);
    if (opts.shuffle) shuffle(servers);
    this.session = new Session(servers, chroot, opts, this);
  }

  /** Session id (0n before the first connect). */
  get sessionId(): bigint {
    return this.session.sessionId;
  }
  /** Session timeout negotiated with the server, in ms. */
  get sessionTimeoutMs(): number {
    return this.session.sessionTimeoutMs;
  }
  get state(): ClientState {
    return this.session.state;
  }
  /** Highest zxid seen in any reply, event or handshake. */
  get lastZxidSeen(): Zxid {
    return this.session.lastZxidSeen;
  }
  /** `host:port` of the server the client is connected to, undefined while not connected. */
  get serverAddress(): string | undefined {
    return this.session.serverAddress;
  }
  /** The chroot of the connect string ('' for none). */
  get chroot(): string {
    return this.session.chroot;
  }

  // ---- writes ---------------------------------------------------------------

  /** Creates a node; resolves with its path (with the sequence suffix for sequential modes). */
  async create(path: string, data: DataInput = null, options: CreateOptions = {}): Promise<string> {
    return (await this.createWithStat(path, data, options)).path;
  }

  async createWithStat(path: string, data: DataInput = null, options: CreateOptions = {}): Promise<{ path: string; stat: Stat }> {
    const mode = options.mode ?? 'persistent';
    this.checkPath(path, mode.endsWith('sequential'));
    const req: Request = { op: OpCode.create, path: this.server(path), data: toBytes(data), mode };
    if (options.ttlMs !== undefined) req.ttlMs = options.ttlMs;
    const body = await this.call(OpCode.create, req, path, options);
    return { path: withoutChroot(this.chroot, body.path), stat: body.stat };
  }

  async delete(path: string, options: VersionOptions = {}): Promise<void> {
    this.checkPath(path);
    await this.call(OpCode.delete, { op: OpCode.delete, path: this.server(path), version: options.version ?? -1 }, path, options);
  }

  async setData(path: string, data: DataInput, options: VersionOptions = {}): Promise<Stat> {
    this.checkPath(path);
    const req: Request = { op: OpCode.setData, path: this.server(path), data: toBytes(data), version: options.version ?? -1 };
    return (await this.call(OpCode.setData, req, path, options)).stat;
  }

  /** Runs ops atomically. On failure rejects with a ZabError of the failing op's code, with `results` and `failedOpIndex`. */
  async multi(ops: readonly Op[], options: CallOptions = {}): Promise<OpResult[]> {
    for (const op of ops) this.checkPath(op.path, op.type === 'create' && (op.mode ?? 'persistent').endsWith('sequential'));
    const body = await this.call(OpCode.multi, { op: OpCode.multi, ops: toWireOps(ops, this.chroot) }, undefined, options);
    const results = (body.results ?? []).map((r) => fromWireResult(r, this.chroot));
    const failed = results.findIndex((r) => r.type === 'error' && r.code !== 'Ok' && r.code !== 'RuntimeInconsistency');
    if (failed !== -1) {
      const r = results[failed] as { type: 'error'; code: ZabError['code'] };
      throw ZabError.from(r.code, `multi op ${failed} failed: ${r.code}`, ops[failed]?.path, { results, failedOpIndex: failed });
    }
    return results;
  }

  /** Fluent multi: `client.transaction().create(...).setData(...).check(...).commit()`. */
  transaction(): Transaction {
    return new Transaction((ops, options) => this.multi(ops, options));
  }

  // ---- reads ------------------------------------------------------------------

  /** Stat of the node or null; `watch` fires on create, delete or data change. */
  async exists(path: string, options: WatchOptions = {}): Promise<Stat | null> {
    this.checkPath(path);
    const req: Request = { op: OpCode.exists, path: this.server(path), watch: !!options.watch };
    const body = await this.call(OpCode.exists, req, path, options, (b) => {
      if (options.watch) this.addWatch(b.stat ? 'data' : 'exist', path, options.watch);
    });
    return body.stat ?? null;
  }

  async getData(path: string, options: WatchOptions = {}): Promise<{ data: Uint8Array | null; stat: Stat }> {
    this.checkPath(path);
    const req: Request = { op: OpCode.getData, path: this.server(path), watch: !!options.watch };
    const body = await this.call(OpCode.getData, req, path, options, () => {
      if (options.watch) this.addWatch('data', path, options.watch);
    });
    return { data: body.data ?? null, stat: body.stat };
  }

  /** getData decoded as UTF-8. */
  async getString(path: string, options: WatchOptions = {}): Promise<{ data: string | null; stat: Stat }> {
    const { data, stat } = await this.getData(path, options);
    return { data: bytesToString(data), stat };
  }

  async getChildren(path: string, options: WatchOptions = {}): Promise<string[]> {
    return (await this.children(path, options, false)).children;
  }

  async getChildrenWithStat(path: string, options: WatchOptions = {}): Promise<{ children: string[]; stat: Stat }> {
    const { children, stat } = await this.children(path, options, true);
    if (!stat) throw zabError('SystemError', 'server sent no stat for getChildrenWithStat', { path });
    return { children, stat };
  }

  private async children(path: string, options: WatchOptions, withStat: boolean): Promise<ResponseBodies[typeof OpCode.getChildren]> {
    this.checkPath(path);
    const req: Request = { op: OpCode.getChildren, path: this.server(path), watch: !!options.watch, withStat };
    return this.call(OpCode.getChildren, req, path, options, () => {
      if (options.watch) this.addWatch('child', path, options.watch);
    });
  }

  /** Waits until the connected server has caught up with the leader for `path`. */
  async sync(path: string = '/', options: CallOptions = {}): Promise<void> {
    this.checkPath(path);
    await this.call(OpCode.sync, { op: OpCode.sync, path: this.server(path) }, path, options);
  }

  /** Paths of this session's ephemeral nodes, optionally only those starting with `prefix`. */
  async getEphemerals(prefix: string = '/', options: CallOptions = {}): Promise<string[]> {
    if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
      throw zabError('BadArguments', "prefix must start with '/'", { path: String(prefix) });
    }
    const serverPrefix = this.chroot ? (prefix === '/' ? `${this.chroot}/` : this.chroot + prefix) : prefix;
    const body = await this.call(OpCode.getEphemerals, { op: OpCode.getEphemerals, prefix: serverPrefix }, prefix, options);
    return body.paths.map((p) => withoutChroot(this.chroot, p));
  }

  /** Number of descendants of `path` (not counting itself). */
  async getAllChildrenNumber(path: string, options: CallOptions = {}): Promise<number> {
    this.checkPath(path);
    return (await this.call(OpCode.getAllChildrenNumber, { op: OpCode.getAllChildrenNumber, path: this.server(path) }, path, options)).count;
  }

  // ---- lifecycle --------------------------------------------------------------

  /** Closes the session (its ephemerals go at once) and the socket. Idempotent. */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.session.close(options.timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals --------------------------------------------------------------

  private call<O extends keyof ResponseBodies>(
    _op: O,
    req: Request,
    path: string | undefined,
    options: CallOptions,
    onReply?: (body: ResponseBodies[O]) => void,
  ): Promise<ResponseBodies[O]> {
    const o: SubmitOptions = {};
    if (path !== undefined) o.path = path;
    if (options.signal) o.signal = options.signal;
    if (options.timeoutMs !== undefined) o.timeoutMs = options.timeoutMs;
    if (onReply) o.onReply = onReply as (b: ResponseBody) => void;
    return this.session.submit(req, o) as Promise<ResponseBodies[O]>;
  }

  private addWatch(kind: WatchKind, path: string, watcher: Watcher): void {
    this.session.watches.add(kind, this.server(path), watcher);
  }

  private server(path: string): string {
    return withChroot(this.chroot, path);
  }

  private checkPath(path: string, sequential = false): void {
    const problem = pathProblem(path, { sequential });
    if (problem !== null) throw zabError('BadArguments', `invalid path: ${problem}`, { path: String(path) });
  }
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

/** Connects to `host:port[,host:port...][/chroot]` and resolves once a session is established. */
export async function connect(connectString: string, options: ConnectOptions = {}): Promise<ZabClient> {
  const client = new ZabClient(connectString, options);
  await client.session.start(options.signal);
  return client;
}
