import { describe, expect, it } from 'vitest';
import { isProtected, sequenceOf, sortSequential, stripProtected } from '../src/index.js';

describe('sequential helpers', () => {
  it('sequenceOf reads the 10-digit suffix', () => {
    expect(sequenceOf('lock-0000000042')).toBe(42);
    expect(sequenceOf('0000000000')).toBe(0);
    expect(sequenceOf('lock-42')).toBeUndefined();
    expect(sequenceOf('plain')).toBeUndefined();
  });

  it('sortSequential sorts by suffix, not by name, and drops non-sequential names', () => {
    const children = ['b-0000000003', 'a-0000000010', 'config', 'c-0000000001'];
    expect(sortSequential(children)).toEqual(['c-0000000001', 'b-0000000003', 'a-0000000010']);
  });

  it('sortSequential filters by prefix and sees through protected names', () => {
    const p = '_c_0b7e2a59-3f6c-4c1e-9d2a-1f2e3d4c5b6a-lock-0000000002';
    const children = ['lock-0000000005', p, 'read-0000000001', 'lock-0000000003'];
    expect(sortSequential(children, 'lock-')).toEqual([p, 'lock-0000000003', 'lock-0000000005']);
    expect(isProtected(p)).toBe(true);
    expect(isProtected('lock-0000000005')).toBe(false);
    expect(stripProtected(p)).toBe('lock-0000000002');
  });

  it('does not mutate its input', () => {
    const children = ['x-0000000002', 'x-0000000001'];
    sortSequential(children);
    expect(children).toEqual(['x-0000000002', 'x-0000000001']);
  });
});

describe('createProtected guid option', () => {
  it('uses the caller-supplied GUID so the caller can find its node again', async () => {
    const { createProtected } = await import('../src/index.js');
    const created: string[] = [];
    const fake = {
      create: async (path: string) => {
        created.push(path);
        return `${path}0000000007`;
      },
    } as unknown as Parameters<typeof createProtected>[0];
    const guid = '0b7e2a59-3f6c-4c1e-9d2a-1f2e3d4c5b6a';
    const path = await createProtected(fake, '/locks/x/lock-', null, 'ephemeral-sequential', { guid });
    expect(created).toEqual([`/locks/x/_c_${guid}-lock-`]);
    expect(path).toBe(`/locks/x/_c_${guid}-lock-0000000007`);
    expect(isProtected(path.split('/').pop()!)).toBe(true);
  });
});
