// Records, per session, every frame the client receives (replies and watch
// events, with their zxids, in arrival order) and which recorded operation each
// reply answers. The client does not expose a reply's zxid per call, so this
// wraps three of its internals (Session.submit / onResponse / onEvent) on one
// instance; it checks they exist so a refactoring of the client fails loudly
// here instead of silently recording nothing.
import type { ZabClient } from '@zabkit/client';
import type { TapFrame } from './history.js';

interface SessionInternals {
  submit(req: object, o: object): Promise<unknown>;
  onResponse(f: { xid: number; zxid: bigint; op: number; err?: string }): void;
  onEvent(f: { zxid: bigint; type: string; path: string }): void;
  requests: { inflight: Map<number, { req: object }> };
}

export class SessionTap {
  readonly frames: TapFrame[] = [];
  private readonly replyZxids = new Map<number, bigint>();
  private tagNext: number | undefined;

  constructor(client: ZabClient) {
    const s = client.session as unknown as SessionInternals;
    if (typeof s.submit !== 'function' || typeof s.onResponse !== 'function' || typeof s.onEvent !== 'function' || !(s.requests?.inflight instanceof Map)) {
      throw new Error('SessionTap: the client internals it wraps (Session.submit/onResponse/onEvent, RequestTable.inflight) changed');
    }
    const reqOp = new WeakMap<object, number>();
    const submit = s.submit.bind(s);
    s.submit = (req, o) => {
      if (this.tagNext !== undefined) reqOp.set(req, this.tagNext);
      this.tagNext = undefined;
      return submit(req, o);
    };
    const onResponse = s.onResponse.bind(s);
    s.onResponse = (f) => {
      const p = s.requests.inflight.get(f.xid);
      const op = p ? reqOp.get(p.req) : undefined;
      const frame: TapFrame = { kind: 'reply', zxid: String(f.zxid), opCode: f.op };
      if (op !== undefined) {
        frame.op = op;
        this.replyZxids.set(op, f.zxid);
      }
      if (f.err !== undefined && f.err !== 'Ok') frame.err = f.err;
      this.frames.push(frame);
      onResponse(f);
    };
    const onEvent = s.onEvent.bind(s);
    s.onEvent = (f) => {
      this.frames.push({ kind: 'event', zxid: String(f.zxid), type: f.type, path: f.path });
      onEvent(f);
    };
    client.on('suspended', ({ reason }) => this.frames.push({ kind: 'suspended', reason }));
    client.on('reconnected', ({ server }) => this.frames.push({ kind: 'reconnected', server, lastZxidSeen: String(client.lastZxidSeen) }));
  }

  /** Runs `call`, attributing the request it submits synchronously to op `op`. */
  tag<T>(op: number, call: () => Promise<T>): Promise<T> {
    this.tagNext = op;
    try {
      return call();
    } finally {
      this.tagNext = undefined;
    }
  }

  /** The zxid of the reply that answered op `op`, if one arrived. */
  replyZxid(op: number): bigint | undefined {
    return this.replyZxids.get(op);
  }
}
