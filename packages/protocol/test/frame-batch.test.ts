import { describe, expect, it } from 'vitest';
import { FrameBatch, decodeFrames, encodeFrame, FrameKind } from '../src/index.js';

const frame = (xid: number, pad = 0) => encodeFrame({ k: FrameKind.request, xid, req: { op: 11, path: `/p${'x'.repeat(pad)}` } } as never);
const xids = (message: Uint8Array) => (decodeFrames(message, 1 << 20) as { xid: number }[]).map((f) => f.xid);

describe('FrameBatch', () => {
  it('writes queued frames in order as one message on flush, a lone frame as itself', () => {
    const out: Uint8Array[] = [];
    const b = new FrameBatch(1024, (m) => out.push(m));
    expect(b.add(frame(1))).toBe(true);
    expect(b.add(frame(2))).toBe(true);
    expect(out).toHaveLength(0);
    b.flush();
    expect(out.map(xids)).toEqual([[1, 2]]);
    b.add(frame(3));
    b.flush();
    expect(out[1]).toEqual(frame(3));
    b.flush();
    expect(out).toHaveLength(2);
  });

  it('starts a new message before one would pass maxBytes, and sends a frame too large to batch alone, after what was queued', () => {
    const out: Uint8Array[] = [];
    const b = new FrameBatch(250, (m) => out.push(m));
    b.add(frame(1, 80));
    b.add(frame(2, 80));
    b.add(frame(3, 80)); // would pass 250: 1 and 2 go first
    expect(out.map(xids)).toEqual([[1, 2]]);
    expect(b.add(frame(4, 300))).toBe(false); // 3 goes, then 4 alone
    expect(out.slice(1)).toEqual([frame(3, 80), frame(4, 300)]);
  });
});
