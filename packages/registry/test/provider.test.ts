// Provider strategies and the down-instance policy, on a fixed instance list and a fake clock.
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'eventemitter3';
import { Provider, type ServiceCacheEvents, type ServiceInstance } from '../src/index.js';

const inst = (id: string): ServiceInstance => ({ name: 'svc', id, address: '10.0.0.1', port: 80, metadata: {}, registeredAt: 0 });

class FakeSource extends EventEmitter<ServiceCacheEvents<Record<string, unknown>>> {
  list = [inst('a'), inst('b'), inst('c')];
  instances(): ServiceInstance[] {
    return [...this.list];
  }
  remove(id: string): void {
    const i = this.list.find((x) => x.id === id)!;
    this.list = this.list.filter((x) => x.id !== id);
    this.emit('removed', i);
  }
}

const ids = (p: Provider, n: number): string[] => Array.from({ length: n }, () => p.getInstance()?.id ?? '-');

describe('Provider', () => {
  it('round-robin cycles through the instances in id order', () => {
    const p = new Provider(new FakeSource());
    expect(ids(p, 7)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('random picks with the given randomness and covers every instance', () => {
    const seq = [0, 0.5, 0.99, 0.34];
    let k = 0;
    const p = new Provider(new FakeSource(), { strategy: 'random', random: () => seq[k++ % seq.length]! });
    expect(ids(p, 4)).toEqual(['a', 'b', 'c', 'b']);
    const real = new Provider(new FakeSource(), { strategy: 'random' });
    expect(new Set(ids(real, 300))).toEqual(new Set(['a', 'b', 'c']));
  });

  it('sticky keeps the same instance until it is removed or down', () => {
    let now = 0;
    const src = new FakeSource();
    const p = new Provider(src, { strategy: 'sticky', downInstancePolicy: { errorThreshold: 2, windowMs: 1_000, cooldownMs: 5_000 }, now: () => now });
    expect(ids(p, 3)).toEqual(['a', 'a', 'a']);
    src.remove('a');
    const [second] = ids(p, 1);
    expect(second).not.toBe('a');
    expect(ids(p, 3)).toEqual([second, second, second]);
    p.noteError(inst(second!));
    p.noteError(inst(second!));
    const third = second === 'b' ? 'c' : 'b';
    expect(ids(p, 2)).toEqual([third, third]);
    now = 10_000; // the cooldown is over, but sticky stays where it is
    expect(ids(p, 2)).toEqual([third, third]);
  });

  it('marks an instance down after N errors within the window, for the cooldown only', () => {
    let now = 0;
    const p = new Provider(new FakeSource(), { downInstancePolicy: { errorThreshold: 3, windowMs: 1_000, cooldownMs: 5_000 }, now: () => now });
    p.noteError(inst('b'));
    now = 600;
    p.noteError(inst('b'));
    now = 1_200; // the first error left the window
    p.noteError(inst('b'));
    expect(p.isDown(inst('b'))).toBe(false);
    now = 1_300;
    p.noteError(inst('b')); // 3 within 1 s: 600, 1200, 1300
    expect(p.isDown(inst('b'))).toBe(true);
    expect(new Set(ids(p, 6))).toEqual(new Set(['a', 'c']));
    now = 6_299;
    expect(p.isDown(inst('b'))).toBe(true);
    now = 6_300;
    expect(p.isDown(inst('b'))).toBe(false);
    expect(new Set(ids(p, 6))).toEqual(new Set(['a', 'b', 'c']));
  });

  it('returns undefined when every instance is down or none is registered; the policy can be turned off', () => {
    const src = new FakeSource();
    const p = new Provider(src, { downInstancePolicy: { errorThreshold: 1 } });
    for (const id of ['a', 'b', 'c']) p.noteError(inst(id));
    expect(p.getInstance()).toBeUndefined();
    const off = new Provider(src, { downInstancePolicy: false });
    for (let i = 0; i < 10; i++) off.noteError(inst('a'));
    expect(off.isDown(inst('a'))).toBe(false);
    src.list = [];
    expect(off.getInstance()).toBeUndefined();
  });

  it('takes a custom strategy', () => {
    const p = new Provider(new FakeSource(), { strategy: { pick: (xs) => xs.at(-1)! } });
    expect(ids(p, 2)).toEqual(['c', 'c']);
  });
});
