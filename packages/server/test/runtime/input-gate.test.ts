import { describe, expect, it } from 'vitest';
import { InputGate } from '../../src/runtime/input-gate.js';

describe('InputGate (inputs held while a TRUNC reload rebuilds the state)', () => {
  it('runs inputs at once while open; while held they wait and run in arrival order on release', () => {
    const ran: string[] = [];
    const gate = new InputGate((err) => ran.push(`error ${(err as Error).message}`));
    gate.run(() => ran.push('a'));
    gate.hold();
    expect(gate.holding).toBe(true);
    gate.run(() => ran.push('b'));
    gate.run(() => {
      throw new Error('c failed');
    });
    gate.run(() => ran.push('d'));
    expect(ran).toEqual(['a']);
    gate.release();
    expect(gate.holding).toBe(false);
    expect(ran).toEqual(['a', 'b', 'error c failed', 'd']);
    gate.run(() => ran.push('e'));
    expect(ran.at(-1)).toBe('e');
  });
});
