import { describe, expect, it } from 'vitest';
import { parseConnectString, formatAddress } from '../src/index.js';

describe('parseConnectString', () => {
  it('parses a single host:port', () => {
    expect(parseConnectString('127.0.0.1:2181')).toEqual({ servers: [{ host: '127.0.0.1', port: 2181 }], chroot: '' });
  });

  it('parses several servers and a chroot', () => {
    expect(parseConnectString('a:1,b:2, c:3/app/x')).toEqual({
      servers: [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
        { host: 'c', port: 3 },
      ],
      chroot: '/app/x',
    });
  });

  it('defaults the port to 2181 and treats a bare / chroot as none', () => {
    expect(parseConnectString('zk1/')).toEqual({ servers: [{ host: 'zk1', port: 2181 }], chroot: '' });
  });

  it('accepts bracketed IPv6 hosts and formats them back', () => {
    const { servers } = parseConnectString('[::1]:2182,[fe80::1]');
    expect(servers).toEqual([
      { host: '::1', port: 2182 },
      { host: 'fe80::1', port: 2181 },
    ]);
    expect(servers.map(formatAddress)).toEqual(['[::1]:2182', '[fe80::1]:2181']);
  });

  it.each([
    ['', /non-empty/],
    ['a:1,,b:2', /empty server entry/],
    ['a:notaport', /bad port/],
    ['a:70000', /out of range/],
    [':2181', /missing host/],
    ['::1:2181', /brackets/],
    ['a:1/app/', /must not end/],
    ['a:1/app//b', /empty component/],
  ])('rejects %j', (input, message) => {
    expect(() => parseConnectString(input)).toThrow(message);
  });
});
