import { packArray } from './codec.js';

/**
 * Encoded frames queued to go out as one ws message: an msgpack array of them, in order (a lone
 * frame as itself), of at most `maxBytes`. Both ends use it for a connection that negotiated frame
 * arrays: the client for its requests, the server for its replies. The owner decides when to
 * flush (after the poll phase, so one event-loop turn's frames share a write).
 */
export class FrameBatch {
  private frames: Uint8Array[] = [];
  private bytes = 0;

  /** `write` sends one message; it is called only from add() and flush(). */
  constructor(
    private readonly maxBytes: number,
    private readonly write: (message: Uint8Array) => void,
  ) {}

  /**
   * Queues `frame` and returns true (the owner must flush later), or, for a frame too large to
   * batch, writes what is queued and then the frame alone, and returns false.
   */
  add(frame: Uint8Array): boolean {
    if (frame.byteLength >= this.maxBytes) {
      this.flush();
      this.write(frame);
      return false;
    }
    if (this.bytes + frame.byteLength > this.maxBytes) this.flush();
    this.frames.push(frame);
    this.bytes += frame.byteLength;
    return true;
  }

  /** Writes the queued frames as one message, if any. */
  flush(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    this.frames = [];
    this.bytes = 0;
    this.write(frames.length === 1 ? frames[0]! : packArray(frames));
  }
}
