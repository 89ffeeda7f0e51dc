import { describe, expect, it } from 'vitest';
import pRetry from 'p-retry';
import {
  BadVersionError,
  ConnectionLossError,
  NoNodeError,
  NodeExistsError,
  SessionExpiredError,
  ZabError,
  isRetryable,
} from '../src/index.js';

describe('ZabError', () => {
  it('maps codes to subclasses with code, path and retryable', () => {
    const e = ZabError.from('NoNode', '', '/a/b');
    expect(e).toBeInstanceOf(NoNodeError);
    expect(e).toBeInstanceOf(ZabError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('NoNodeError');
    expect(e.code).toBe('NoNode');
    expect(e.path).toBe('/a/b');
    expect(e.message).toBe('NoNode: /a/b');
    expect(e.retryable).toBe(false);
    expect(ZabError.from('NodeExists', 'x')).toBeInstanceOf(NodeExistsError);
    expect(ZabError.from('BadVersion', 'x')).toBeInstanceOf(BadVersionError);
    expect(ZabError.from('SessionExpired', 'x')).toBeInstanceOf(SessionExpiredError);
  });

  it('marks connection loss and timeouts retryable, not node errors', () => {
    expect(ZabError.from('ConnectionLoss', 'x')).toBeInstanceOf(ConnectionLossError);
    expect(ZabError.from('ConnectionLoss', 'x').retryable).toBe(true);
    expect(ZabError.from('OperationTimeout', 'x').retryable).toBe(true);
    expect(ZabError.from('NotServing', 'x').retryable).toBe(true);
    expect(ZabError.from('SessionExpired', 'x').retryable).toBe(false);
    expect(ZabError.from('BadArguments', 'x').retryable).toBe(false);
  });

  it('falls back to a plain ZabError for codes without a subclass and SystemError for unknown codes', () => {
    const e = ZabError.from('QuotaExceeded', 'q');
    expect(e.constructor).toBe(ZabError);
    expect(e.code).toBe('QuotaExceeded');
    expect(ZabError.from('NoSuchThing', 'weird').code).toBe('SystemError');
  });

  it('keeps the cause and multi results', () => {
    const cause = new Error('socket');
    const e = ZabError.from('NodeExists', 'm', '/x', { cause, results: [{ type: 'error', code: 'NodeExists' }], failedOpIndex: 0 });
    expect(e.cause).toBe(cause);
    expect(e.results).toEqual([{ type: 'error', code: 'NodeExists' }]);
    expect(e.failedOpIndex).toBe(0);
  });

  it('isRetryable works as a p-retry shouldRetry', async () => {
    expect(isRetryable(new Error('plain'))).toBe(false);
    let calls = 0;
    const result = await pRetry(
      async () => {
        calls++;
        if (calls < 3) throw ZabError.from('ConnectionLoss', 'lost');
        return 'ok';
      },
      { retries: 5, minTimeout: 0, shouldRetry: isRetryable },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);

    let attempts = 0;
    await expect(
      pRetry(
        async () => {
          attempts++;
          throw ZabError.from('NoNode', 'gone', '/a');
        },
        { retries: 5, minTimeout: 0, shouldRetry: isRetryable },
      ),
    ).rejects.toBeInstanceOf(NoNodeError);
    expect(attempts).toBe(1);
  });
});
