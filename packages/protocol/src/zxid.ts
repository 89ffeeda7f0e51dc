/**
 * A zxid orders every write in the cluster: the high 32 bits are the epoch of
 * the leader that proposed it, the low 32 bits a counter restarting under each
 * leader. Always a bigint, never a JS number.
 */
export type Zxid = bigint;

export const ZXID_ZERO: Zxid = 0n;
const MASK32 = 0xffff_ffffn;

export function makeZxid(epoch: number | bigint, counter: number | bigint): Zxid {
  const e = BigInt(epoch);
  const c = BigInt(counter);
  if (e < 0n || e > MASK32) throw new RangeError(`zxid epoch out of range: ${e}`);
  if (c < 0n || c > MASK32) throw new RangeError(`zxid counter out of range: ${c}`);
  return (e << 32n) | c;
}

export function epochOf(zxid: Zxid): number {
  return Number(zxid >> 32n);
}

export function counterOf(zxid: Zxid): number {
  return Number(zxid & MASK32);
}

/** True when the counter cannot be incremented again under this epoch. */
export function counterExhausted(zxid: Zxid): boolean {
  return (zxid & MASK32) === MASK32;
}

/** `0x<epoch>:<counter>` style rendering, handy in logs and the shell. */
export function formatZxid(zxid: Zxid): string {
  return `0x${zxid.toString(16)}`;
}

export function maxZxid(a: Zxid, b: Zxid): Zxid {
  return a > b ? a : b;
}
