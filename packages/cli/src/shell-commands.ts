import type { CreateMode, Stat } from '@zabkit/protocol';
import type { ZabClient } from '@zabkit/client';

/** Splits a command line into words, honouring single and double quotes. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let inWord = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new ShellUsageError(`unterminated ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}

export class ShellUsageError extends Error {
  override readonly name = 'ShellUsageError';
  readonly code = 'BadArguments';
}

export const SHELL_HELP = `commands:
  ls [-s] path                      list children (-s: with stat)
  get [-s] path                     print data (-s: with stat)
  stat path                         print the stat
  create [-s] [-e] [-c] [-t ttl] path [data]
                                    -s sequential, -e ephemeral, -c container, -t TTL in ms
  set path data [-v version]        set data, optionally only at a version
  delete path [-v version]          delete a childless node
  deleteall path                    delete a node and everything under it
  sync path                         catch the server up with the leader
  getEphemerals [prefix]            this session's ephemeral nodes
  status                            the server's status
  help, quit`;

function formatStat(stat: Stat): string {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  return [
    `cZxid = ${hex(stat.czxid)}`,
    `ctime = ${new Date(stat.ctime).toISOString()}`,
    `mZxid = ${hex(stat.mzxid)}`,
    `mtime = ${new Date(stat.mtime).toISOString()}`,
    `pZxid = ${hex(stat.pzxid)}`,
    `cversion = ${stat.cversion}`,
    `dataVersion = ${stat.version}`,
    `aclVersion = ${stat.aversion}`,
    `ephemeralOwner = ${hex(stat.ephemeralOwner)}`,
    `dataLength = ${stat.dataLength}`,
    `numChildren = ${stat.numChildren}`,
  ].join('\n');
}

/** Pulls `-x` flags (and `-x value` options) out of the words. */
function takeFlags(words: string[], flags: string, withValue = ''): { rest: string[]; set: Set<string>; values: Map<string, string> } {
  const rest: string[] = [];
  const set = new Set<string>();
  const values = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (/^-[a-z]$/.test(w) && withValue.includes(w[1]!)) {
      const v = words[++i];
      if (v === undefined) throw new ShellUsageError(`${w} needs a value`);
      values.set(w[1]!, v);
    } else if (/^-[a-z]+$/.test(w) && [...w.slice(1)].every((c) => flags.includes(c))) {
      for (const c of w.slice(1)) set.add(c);
    } else if (/^-[a-z]/.test(w)) {
      throw new ShellUsageError(`unknown option ${w}`);
    } else {
      rest.push(w);
    }
  }
  return { rest, set, values };
}

function intArg(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ShellUsageError(`${name} must be an integer, got '${v}'`);
  return n;
}

function need(path: string | undefined, usage: string): string {
  if (path === undefined) throw new ShellUsageError(`usage: ${usage}`);
  return path;
}

/** Runs one shell command and returns what to print. Throws ZabError / ShellUsageError on failure. */
export async function execShellCommand(
  client: ZabClient,
  line: string,
  status: () => Promise<unknown>,
): Promise<string> {
  const [cmd, ...args] = tokenize(line);
  switch (cmd) {
    case undefined:
      return '';
    case 'help':
      return SHELL_HELP;
    case 'ls': {
      const { rest, set } = takeFlags(args, 's');
      const path = need(rest[0], 'ls [-s] path');
      if (set.has('s')) {
        const { children, stat } = await client.getChildrenWithStat(path);
        return `[${children.sort().join(', ')}]\n${formatStat(stat)}`;
      }
      return `[${(await client.getChildren(path)).sort().join(', ')}]`;
    }
    case 'get': {
      const { rest, set } = takeFlags(args, 's');
      const { data, stat } = await client.getData(need(rest[0], 'get [-s] path'));
      const shown = data === null ? 'null' : Buffer.from(data).toString('utf8');
      return set.has('s') ? `${shown}\n${formatStat(stat)}` : shown;
    }
    case 'stat': {
      const path = need(args[0], 'stat path');
      const stat = await client.exists(path);
      if (!stat) {
        const { ZabError } = await import('@zabkit/client');
        throw ZabError.from('NoNode', `Node does not exist: ${path}`, path);
      }
      return formatStat(stat);
    }
    case 'create': {
      const { rest, set, values } = takeFlags(args, 'sec', 't');
      const path = need(rest[0], 'create [-s] [-e] [-c] [-t ttl] path [data]');
      const ttlMs = intArg(values.get('t'), 'ttl');
      const seq = set.has('s');
      let mode: CreateMode;
      if (ttlMs !== undefined) {
        if (set.has('e') || set.has('c')) throw new ShellUsageError('-t cannot be combined with -e or -c');
        mode = seq ? 'ttl-sequential' : 'ttl';
      } else if (set.has('c')) {
        if (set.has('e') || seq) throw new ShellUsageError('-c cannot be combined with -e or -s');
        mode = 'container';
      } else if (set.has('e')) mode = seq ? 'ephemeral-sequential' : 'ephemeral';
      else mode = seq ? 'persistent-sequential' : 'persistent';
      const created = await client.create(path, rest[1] ?? null, ttlMs === undefined ? { mode } : { mode, ttlMs });
      return `Created ${created}`;
    }
    case 'set': {
      const { rest, values } = takeFlags(args, '', 'v');
      const usage = 'set path data [-v version]';
      const version = intArg(values.get('v'), 'version');
      const stat = await client.setData(need(rest[0], usage), need(rest[1], usage), version === undefined ? {} : { version });
      return `version ${stat.version}`;
    }
    case 'delete': {
      const { rest, values } = takeFlags(args, '', 'v');
      const version = intArg(values.get('v'), 'version');
      await client.delete(need(rest[0], 'delete path [-v version]'), version === undefined ? {} : { version });
      return '';
    }
    case 'deleteall': {
      const path = need(args[0], 'deleteall path');
      const count = await deleteAll(client, path);
      return `deleted ${count} node(s)`;
    }
    case 'sync': {
      await client.sync(need(args[0], 'sync path'));
      return 'Sync is OK';
    }
    case 'getEphemerals':
      return (await client.getEphemerals(args[0] ?? '/')).sort().join('\n');
    case 'status':
      return JSON.stringify(await status(), (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2);
    default:
      throw new ShellUsageError(`unknown command '${cmd}' (try help)`);
  }
}

async function deleteAll(client: ZabClient, path: string): Promise<number> {
  let count = 0;
  for (const child of await client.getChildren(path)) {
    count += await deleteAll(client, path === '/' ? `/${child}` : `${path}/${child}`);
  }
  if (path !== '/') {
    await client.delete(path);
    count++;
  }
  return count;
}
