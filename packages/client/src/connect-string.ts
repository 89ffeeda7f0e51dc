import { pathProblem } from '@zabkit/protocol';

export interface ServerAddress {
  host: string;
  port: number;
}

export interface ParsedConnectString {
  servers: ServerAddress[];
  /** '' when there is no chroot, otherwise an absolute path without trailing slash. */
  chroot: string;
}

export const DEFAULT_CLIENT_PORT = 2181;

/**
 * Parses `host:port[,host:port...][/chroot]`. IPv6 hosts go in brackets
 * (`[::1]:2181`); a missing port means 2181. Throws TypeError on bad input.
 */
export function parseConnectString(connectString: string): ParsedConnectString {
  if (typeof connectString !== 'string' || connectString.trim() === '') {
    throw new TypeError('connect string must be a non-empty string');
  }
  const s = connectString.trim();
  const slash = s.indexOf('/');
  const hostsPart = slash === -1 ? s : s.slice(0, slash);
  let chroot = slash === -1 ? '' : s.slice(slash);
  if (chroot === '/') chroot = '';
  if (chroot !== '') {
    const problem = pathProblem(chroot);
    if (problem !== null) throw new TypeError(`invalid chroot in connect string: ${problem}`);
  }
  const servers: ServerAddress[] = [];
  for (const raw of hostsPart.split(',')) {
    const entry = raw.trim();
    if (entry === '') throw new TypeError(`empty server entry in connect string ${JSON.stringify(connectString)}`);
    servers.push(parseHostPort(entry));
  }
  return { servers, chroot };
}

function parseHostPort(entry: string): ServerAddress {
  let host: string;
  let portText: string | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close === -1) throw new TypeError(`unterminated IPv6 address: ${entry}`);
    host = entry.slice(1, close);
    const rest = entry.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new TypeError(`bad server entry: ${entry}`);
      portText = rest.slice(1);
    }
  } else {
    const colon = entry.lastIndexOf(':');
    if (colon !== -1 && entry.indexOf(':') !== colon) throw new TypeError(`IPv6 addresses need brackets: ${entry}`);
    host = colon === -1 ? entry : entry.slice(0, colon);
    portText = colon === -1 ? undefined : entry.slice(colon + 1);
  }
  if (host === '') throw new TypeError(`missing host in ${JSON.stringify(entry)}`);
  let port = DEFAULT_CLIENT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw new TypeError(`bad port in ${JSON.stringify(entry)}`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw new TypeError(`port out of range in ${JSON.stringify(entry)}`);
  }
  return { host, port };
}

export function formatAddress(a: ServerAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export function wsUrl(a: ServerAddress): string {
  return `ws://${formatAddress(a)}/`;
}
