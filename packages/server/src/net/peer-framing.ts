import type { Socket } from 'node:net';

/** Every peer frame is a u32 big-endian byte length, then that many bytes of msgpack. */
export const FRAME_HEADER_BYTES = 4;

/** Largest frame accepted before a link has authenticated (hello, challenge, proof are ~100 bytes). */
export const PRE_AUTH_FRAME_BYTES = 4096;

/**
 * Splits a byte stream into frames. The length prefix is checked against `limit` before anything
 * of the frame is buffered, so a peer cannot make us hold more than one frame of `limit` bytes.
 * `limit` may change between frames (it rises once a link has authenticated): frames are handed
 * out one at a time and the next length is read only after `onFrame` returned.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being read, once its header is in. */
  private need = -1;
  private stopped = false;

  constructor(
    public limit: number,
    private readonly onFrame: (bytes: Buffer) => void,
    /** The stream broke the framing (a frame above the limit); nothing more is read. */
    private readonly onError: (why: string) => void,
  ) {}

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Forgets what is buffered; later pushes are ignored. */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
  }

  push(chunk: Buffer): void {
    if (this.stopped || chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    for (;;) {
      if (this.stopped) return;
      if (this.need < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        const length = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (length > this.limit) {
          this.stop();
          this.onError(`a frame of ${length} bytes exceeds the limit of ${this.limit}`);
          return;
        }
        this.need = length;
      }
      if (this.buffered < this.need) return;
      const frame = this.take(this.need);
      this.need = -1;
      this.onFrame(frame);
    }
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered); copies only across chunks. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const part = Math.min(c.byteLength, n - at);
      c.copy(out, at, 0, part);
      at += part;
      if (part === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(part);
    }
    return out;
  }
}

/** Writes one frame (header and payload in one writev). Never throws: a dead socket ignores writes. */
export function writeFrame(socket: Socket, payload: Uint8Array): void {
  if (socket.destroyed || !socket.writable) return;
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payload.byteLength, 0);
  socket.cork();
  socket.write(header);
  socket.write(payload);
  socket.uncork();
}

/** Destroys a socket and resolves once it has closed (never rejects). */
export function destroySocket(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.on('error', () => {});
    socket.destroy();
  });
}
