/**
 * Reads WebSocket frames out of the raw bytes a server socket received after the upgrade (capture
 * them with `req.socket.on('data')` in the 'connection' handler), for tests that check how frames
 * are put on the wire.
 */
export interface RawFrame {
  opcode: number;
  masked: boolean;
  /** The 4-byte masking key of a masked frame. */
  maskKey: number[];
  payloadLength: number;
}

export function clientFrames(raw: Buffer): RawFrame[] {
  const frames: RawFrame[] = [];
  let p = 0;
  while (p + 2 <= raw.length) {
    const opcode = raw[p]! & 0x0f;
    const masked = (raw[p + 1]! & 0x80) !== 0;
    let len = raw[p + 1]! & 0x7f;
    let q = p + 2;
    if (len === 126) {
      if (q + 2 > raw.length) break;
      len = raw.readUInt16BE(q);
      q += 2;
    } else if (len === 127) {
      if (q + 8 > raw.length) break;
      len = Number(raw.readBigUInt64BE(q));
      q += 8;
    }
    const maskKey = masked ? [...raw.subarray(q, q + 4)] : [];
    if (masked) q += 4;
    if (q + len > raw.length) break;
    frames.push({ opcode, masked, maskKey, payloadLength: len });
    p = q + len;
  }
  return frames;
}
