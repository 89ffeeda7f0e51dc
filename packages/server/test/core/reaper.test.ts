import { describe, expect, it } from 'vitest';
import { Harness, bytes } from './harness.js';

const opts = { tickTimeMs: 100, minSessionTimeoutMs: 200, maxSessionTimeoutMs: 100_000, containerCheckIntervalMs: 1000 };

describe('containers', () => {
  it('removes a container once its last child is gone, firing watches', () => {
    const h = new Harness(opts);
    const c = h.client();
    const w = h.client();
    c.create('/c', null, 'container');
    h.tick(5000);
    expect(c.stat('/c')).not.toBeNull(); // never had a child: kept
    c.create('/c/x');
    h.tick(5000);
    expect(c.stat('/c')).not.toBeNull(); // has a child: kept
    w.exists('/c', true);
    w.getChildren('/', true);
    c.delete('/c/x');
    h.tick(5000);
    expect(c.stat('/c')).toBeNull();
    expect(w.takeEvents()).toEqual(['NodeDeleted /c', 'NodeChildrenChanged /']);
    const txn = h.log.at(-1);
    expect(txn?.hdr.sessionId).toBe(0n);
    expect(txn?.body).toMatchObject({ type: 'delete', path: '/c' });
  });

  it('checks no more often than the interval', () => {
    const h = new Harness(opts);
    const c = h.client();
    h.tick(1000); // first sweep
    c.create('/c', null, 'container');
    c.create('/c/x');
    c.delete('/c/x');
    h.tick(400);
    expect(c.stat('/c')).not.toBeNull();
    h.tick(700);
    expect(c.stat('/c')).toBeNull();
  });

  it('empties nested containers bottom-up over successive sweeps', () => {
    const h = new Harness(opts);
    const c = h.client();
    c.create('/a', null, 'container');
    c.create('/a/b', null, 'container');
    c.create('/a/b/leaf', null, 'ephemeral');
    c.delete('/a/b/leaf');
    h.tick(2000);
    expect(c.stat('/a/b')).toBeNull();
    expect(c.stat('/a')).not.toBeNull();
    h.tick(2000);
    expect(c.stat('/a')).toBeNull();
  });
});

describe('TTL nodes', () => {
  it('removes a childless TTL node once unmodified for ttlMs', () => {
    const h = new Harness(opts);
    const c = h.client();
    expect(c.create('/t', bytes('x'), 'ttl', 3000).err).toBeUndefined();
    expect(c.create('/bad', null, 'ttl').err).toBe('BadArguments');
    h.tick(2000);
    expect(c.stat('/t')).not.toBeNull();
    c.setData('/t', bytes('y')); // resets mtime
    h.tick(2000);
    expect(c.stat('/t')).not.toBeNull();
    h.tick(1500);
    expect(c.stat('/t')).toBeNull();
  });

  it('keeps a TTL node with children, removes it after they go', () => {
    const h = new Harness(opts);
    const c = h.client();
    const path = (c.create('/t-', null, 'ttl-sequential', 5000).body as { path: string }).path;
    expect(path).toMatch(/^\/t-\d{10}$/);
    c.create(`${path}/kid`);
    h.tick(10_000);
    h.tick(10_000);
    expect(c.stat(path)).not.toBeNull();
    c.delete(`${path}/kid`);
    h.tick(10_000);
    expect(c.stat(path)).toBeNull();
  });
});
