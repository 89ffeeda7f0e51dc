import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { PREALLOCATE_BYTES } from '../storage/file-txn-log.js';
import { finishPeerAuth, PEER_AUTH_KEY_NAMES, PEER_AUTH_KEYS, type PeerAuthConfig } from './peer-auth-config.js';

/** A server's part in the quorum: a participant votes and may lead; an observer only follows. */
export type PeerRole = 'participant' | 'observer';

/** One `server.N=host:quorumPort:electionPort[:role][;[clientAddress:]clientPort]` line. */
export interface ServerEntry {
  /** The N of `server.N`, 1..255. Example: `server.2=...` gives 2. */
  id: number;
  /** Host or IP the peers reach this server on. Example: `zk2.internal`, `10.0.0.2`, `::1` (written `[::1]`). */
  host: string;
  /** Port followers connect to the leader on (ZooKeeper's 2888). */
  quorumPort: number;
  /** Port for leader election (ZooKeeper's 3888). */
  electionPort: number;
  /** Default 'participant'. Example: `server.4=h4:2888:3888:observer`. */
  role: PeerRole;
  /** From ZooKeeper's `;2181` / `;0.0.0.0:2181` suffix, when present. */
  clientPort?: number;
  /** From the `;address:port` suffix form, when present. */
  clientPortAddress?: string;
}

/** Everything a server needs from zoo.cfg, with ZooKeeper's key names where ZooKeeper has one. */
export interface ServerConfig {
  /** The basic time unit in ms; heartbeats and session expiry work in ticks. Default 2000. Example: `tickTime=2000`. */
  tickTime: number;
  /** Ticks a follower may take to connect and sync to a new leader. Default 10. Example: `initLimit=10`. */
  initLimit: number;
  /** Ticks a follower may lag behind the leader while following. Default 5. Example: `syncLimit=5`. */
  syncLimit: number;
  /** Snapshots, epoch files, the myid file and (by default) the txn log. Required. Example: `dataDir=/var/lib/zabkit`. */
  dataDir: string;
  /** Where the txn log goes; a dedicated disk keeps fsync latency low. Default: dataDir. Example: `dataLogDir=/ssd/zabkit/log`. */
  dataLogDir: string;
  /** Port clients connect to; 0 picks a free one (programmatic use). Default 2181. Example: `clientPort=2181`. */
  clientPort: number;
  /**
   * Address the client port binds. Default '127.0.0.1'. Example: `clientPortAddress=0.0.0.0`.
   * ZooKeeper binds every interface by default; zabkit binds loopback because it has
   * no ACLs or authentication yet, so an open port would let anyone on the network
   * read and write every znode. Serving other hosts is a deliberate act.
   */
  clientPortAddress: string;
  /** Smallest session timeout granted, in ms. Default 2 * tickTime. Example: `minSessionTimeout=4000`. */
  minSessionTimeout: number;
  /** Largest session timeout granted, in ms. Default 20 * tickTime. Example: `maxSessionTimeout=40000`. */
  maxSessionTimeout: number;
  /** Concurrent connections allowed from one IP; 0 means unlimited. Default 60. Example: `maxClientCnxns=100`. */
  maxClientCnxns: number;
  /** Transactions logged between snapshots. Default 100000. Example: `snapCount=100000`. */
  snapCount: number;
  /**
   * Kilobytes the txn log segment being written is kept ahead of its records (zero fill, so that
   * most fsyncs need not commit a size change); 0 = no preallocation. Never past the 64 MiB
   * segment size. Default 4096 (4 MiB; ZooKeeper's is 65536). Example: `preAllocSize=65536`.
   */
  preAllocSize: number;
  /** Snapshots (and the logs they need) kept when purging; from `autopurge.snapRetainCount`. Default 3; below 3 is accepted with a warning. */
  snapRetainCount: number;
  /** Hours between automatic purges, 0 = never; from `autopurge.purgeInterval`. Default 0. Example: `autopurge.purgeInterval=24`. */
  purgeInterval: number;
  /** Largest znode data and request payload in bytes; from `maxDataBytes` or ZooKeeper's `jute.maxbuffer`. Default 1048576. */
  maxDataBytes: number;
  /** How often empty container (and expired TTL) nodes are looked for, in ms; from `znode.container.checkIntervalMs`. Default 60000. */
  containerCheckIntervalMs: number;
  /** Watches one session may hold; past it a read asking for a watch fails with TooManyWatches. Default 65536. Example: `maxWatchesPerSession=100000`. */
  maxWatchesPerSession: number;
  /**
   * Requests read from all clients and not yet answered before the server stops reading client sockets
   * until it drops (ZooKeeper's key). Default 2000: twice ZooKeeper's 1000, as zabkit clients send a
   * turn's requests in one message, so bursts of hundreds are normal; it still bounds the requests held.
   */
  globalOutstandingLimit: number;
  /** Unanswered requests of one connection past which its socket is not read until some are answered. Default 1000. */
  clientOutstandingLimit: number;
  /** Unanswered requests of one connection past which it is closed (one ws message can hold thousands). Default 10000. */
  clientOutstandingCloseLimit: number;
  /** Reply bytes queued for one connection and not yet written past which its socket is not read. Default 8388608 (8 MiB). */
  clientUnsentBytesLimit: number;
  /** Reply bytes queued for one connection past which it is closed (a client that never reads). Default 67108864 (64 MiB). */
  clientUnsentBytesCloseLimit: number;
  /** Time from TCP accept to the client's connect frame (HTTP upgrade included), in ms; slower sockets are closed. Default 5000. */
  clientHandshakeTimeoutMs: number;
  /** Sockets from one IP that may be mid-handshake (not yet past their connect frame) at once. Default 16. Example: `maxHandshakingCnxns=64`. */
  maxHandshakingCnxns: number;
  /** This server's id, 1..255: the --myid flag, else `<dataDir>/myid`, else 1 when no server.N lines exist. */
  myid: number;
  /** The ensemble from `server.N` lines, sorted by id; empty for a standalone server. */
  servers: ServerEntry[];
  /** This server's role: its own server.N entry wins; else `peerType=observer|participant`. Default 'participant'. */
  peerType: PeerRole;
  /** How servers prove who they are to each other (quorum.auth.*, sslQuorum, ssl.quorum.*); see PeerAuthConfig. */
  peerAuth: PeerAuthConfig;
}

/** A config problem; `key` is the setting at fault (`tickTime`, `server.3`, `myid` ...). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    message: string,
    /** 1-based line in the config file, when the problem came from one. */
    readonly line?: number,
  ) {
    super(line === undefined ? message : `${message} (line ${line})`);
  }
}

export interface ParsedConfig {
  config: ServerConfig;
  /** Problems worth a log line that do not stop the server (unknown keys, risky values). */
  warnings: string[];
}

export type ConfigInput = Partial<Omit<ServerConfig, 'servers' | 'peerAuth'>> & {
  peerAuth?: Partial<PeerAuthConfig>;
  servers?: Array<Omit<ServerEntry, 'role'> & { role?: PeerRole }>;
};

/** The numeric settings: field, zoo.cfg key(s), smallest allowed value, what the unit is. */
const NUMERIC: ReadonlyArray<{ field: NumericField; keys: string[]; min: number; max?: number; what: string }> = [
  { field: 'tickTime', keys: ['tickTime'], min: 1, what: 'milliseconds' },
  { field: 'initLimit', keys: ['initLimit'], min: 1, what: 'ticks' },
  { field: 'syncLimit', keys: ['syncLimit'], min: 1, what: 'ticks' },
  { field: 'clientPort', keys: ['clientPort'], min: 0, max: 65535, what: 'a port' },
  { field: 'minSessionTimeout', keys: ['minSessionTimeout'], min: 1, what: 'milliseconds' },
  { field: 'maxSessionTimeout', keys: ['maxSessionTimeout'], min: 1, what: 'milliseconds' },
  { field: 'maxClientCnxns', keys: ['maxClientCnxns'], min: 0, what: 'connections per IP, 0 = unlimited' },
  { field: 'snapCount', keys: ['snapCount'], min: 1, what: 'transactions' },
  { field: 'preAllocSize', keys: ['preAllocSize'], min: 0, max: 1024 * 1024 * 1024, what: 'kilobytes, 0 = no preallocation' },
  { field: 'snapRetainCount', keys: ['autopurge.snapRetainCount'], min: 1, what: 'snapshots' },
  { field: 'purgeInterval', keys: ['autopurge.purgeInterval'], min: 0, what: 'hours, 0 = never' },
  { field: 'maxDataBytes', keys: ['maxDataBytes', 'jute.maxbuffer'], min: 1, what: 'bytes' },
  { field: 'containerCheckIntervalMs', keys: ['znode.container.checkIntervalMs'], min: 1, what: 'milliseconds' },
  { field: 'myid', keys: ['myid'], min: 1, max: 255, what: 'a server id' },
  { field: 'maxWatchesPerSession', keys: ['maxWatchesPerSession'], min: 1, what: 'watches' },
  { field: 'globalOutstandingLimit', keys: ['globalOutstandingLimit'], min: 1, what: 'requests' },
  { field: 'clientOutstandingLimit', keys: ['clientOutstandingLimit'], min: 1, what: 'requests per connection' },
  { field: 'clientOutstandingCloseLimit', keys: ['clientOutstandingCloseLimit'], min: 1, what: 'requests per connection' },
  { field: 'clientUnsentBytesLimit', keys: ['clientUnsentBytesLimit'], min: 1, what: 'bytes per connection' },
  { field: 'clientUnsentBytesCloseLimit', keys: ['clientUnsentBytesCloseLimit'], min: 1, what: 'bytes per connection' },
  { field: 'clientHandshakeTimeoutMs', keys: ['clientHandshakeTimeoutMs'], min: 1, what: 'milliseconds' },
  { field: 'maxHandshakingCnxns', keys: ['maxHandshakingCnxns'], min: 1, what: 'connections per IP' },
];
type NumericField =
  | 'tickTime' | 'initLimit' | 'syncLimit' | 'clientPort' | 'minSessionTimeout' | 'maxSessionTimeout'
  | 'maxClientCnxns' | 'snapCount' | 'preAllocSize' | 'snapRetainCount' | 'purgeInterval' | 'maxDataBytes'
  | 'containerCheckIntervalMs' | 'myid' | 'maxWatchesPerSession' | 'globalOutstandingLimit' | 'clientOutstandingLimit'
  | 'clientOutstandingCloseLimit' | 'clientUnsentBytesLimit' | 'clientUnsentBytesCloseLimit' | 'clientHandshakeTimeoutMs'
  | 'maxHandshakingCnxns';

const STRING_KEYS = ['dataDir', 'dataLogDir', 'clientPortAddress'] as const;

/** ZooKeeper settings zabkit knows of but does not implement: ignored, with a warning saying so. */
const ZOOKEEPER_ONLY = new Set([
  'standaloneEnabled', 'reconfigEnabled', 'dynamicConfigFile', 'electionAlg', 'leaderServes', 'cnxTimeout',
  'forceSync', 'skipACL', 'quorumListenOnAllIPs', 'secureClientPort',
  'secureClientPortAddress', '4lw.commands.whitelist', 'admin.enableServer', 'admin.serverPort',
  'metricsProvider.className', 'authProvider.1', 'syncEnabled', 'localSessionsEnabled', 'localSessionsUpgradingEnabled',
]);

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/** Where each setting came from, so errors name the key and value the user wrote. */
interface Origin { key: string; raw: string; line?: number }

class Builder {
  readonly values: Record<string, unknown> = {};
  readonly origins = new Map<string, Origin>();
  readonly warnings: string[] = [];

  set(field: string, value: unknown, origin: Origin): void {
    this.values[field] = value;
    this.origins.set(field, origin);
  }

  fail(field: string, message: string): never {
    const o = this.origins.get(field);
    throw new ConfigError(o?.key ?? field, message, o?.line);
  }

  describe(field: string): string {
    const o = this.origins.get(field);
    return `${o?.key ?? field}=${o?.raw ?? String(this.values[field])}`;
  }
}

function parseInteger(key: string, raw: string, line: number | undefined): number {
  if (!/^[+-]?\d+$/.test(raw)) {
    const hint = raw.includes('#') ? ' (comments must be on a line of their own)' : '';
    throw new ConfigError(key, `${key} must be an integer, got '${raw}'${hint}`, line);
  }
  return Number(raw);
}

function parseRole(key: string, raw: string, line: number | undefined): PeerRole {
  const role = raw.toLowerCase();
  if (role === 'participant' || role === 'observer') return role;
  throw new ConfigError(key, `${key}: role must be 'participant' or 'observer', got '${raw}'`, line);
}

const SERVER_FORMAT = 'expected host:quorumPort:electionPort[:observer|:participant][;[clientAddress:]clientPort]';

/** Parses the value of a `server.N` line. */
function parseServerEntry(key: string, id: number, value: string, line: number | undefined): ServerEntry {
  const bad = (why: string): never => {
    throw new ConfigError(key, `${key}=${value}: ${why}; ${SERVER_FORMAT}`, line);
  };
  if (value.includes('|')) bad('multiple addresses per server are not supported');
  const semi = value.indexOf(';');
  const peerPart = (semi < 0 ? value : value.slice(0, semi)).trim();
  const clientPart = semi < 0 ? undefined : value.slice(semi + 1).trim();

  let host: string;
  let rest: string;
  if (peerPart.startsWith('[')) {
    const close = peerPart.indexOf(']');
    if (close < 0) return bad("unclosed '[' around an IPv6 address");
    host = peerPart.slice(1, close);
    rest = peerPart.slice(close + 1);
    if (!rest.startsWith(':')) return bad('missing ports');
    rest = rest.slice(1);
  } else {
    const i = peerPart.indexOf(':');
    if (i < 0) return bad('missing ports');
    host = peerPart.slice(0, i);
    rest = peerPart.slice(i + 1);
  }
  if (host === '' || /\s/.test(host)) bad(`bad host '${host}'`);
  const parts = rest.split(':');
  if (parts.length < 2 || parts.length > 3) bad('wrong number of fields');
  const port = (name: string, raw: string): number => {
    if (!/^\d+$/.test(raw)) return bad(`${name} '${raw}' is not a number`);
    const p = Number(raw);
    return p >= 1 && p <= 65535 ? p : bad(`${name} ${p} is out of range (1..65535)`);
  };
  const quorumPort = port('quorumPort', parts[0]!);
  const electionPort = port('electionPort', parts[1]!);
  if (quorumPort === electionPort) bad(`quorumPort and electionPort are both ${quorumPort}`);
  const role = parts[2] === undefined ? 'participant' : parseRole(key, parts[2], line);
  const entry: ServerEntry = { id, host, quorumPort, electionPort, role };

  if (clientPart !== undefined) {
    if (clientPart === '') bad("empty client port after ';'");
    const c = clientPart.lastIndexOf(':');
    if (c >= 0) {
      const addr = clientPart.slice(0, c).replace(/^\[(.*)\]$/, '$1');
      if (addr === '') bad('empty client address');
      entry.clientPortAddress = addr;
    }
    entry.clientPort = port('clientPort', clientPart.slice(c + 1));
  }
  return entry;
}

function parseServerId(key: string, idText: string, line: number | undefined): number {
  if (!/^\d+$/.test(idText)) throw new ConfigError(key, `${key}: server id '${idText}' is not a number`, line);
  const id = Number(idText);
  if (id < 1 || id > 255) throw new ConfigError(key, `${key}: server id ${id} is out of range (1..255)`, line);
  return id;
}

function parseText(text: string, b: Builder): ServerEntry[] {
  const servers: ServerEntry[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const trimmed = lines[i]!.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('!')) continue;
    const eq = trimmed.indexOf('=');
    if (eq < 0) throw new ConfigError(trimmed, `expected key=value, got '${trimmed}'`, lineNo);
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (key === '') throw new ConfigError('', `missing key before '=' in '${trimmed}'`, lineNo);

    const serverMatch = /^server\.(.*)$/.exec(key);
    if (serverMatch) {
      const id = parseServerId(key, serverMatch[1]!, lineNo);
      const earlier = servers.find((s) => s.id === id);
      if (earlier) throw new ConfigError(key, `duplicate server id ${id}: ${key}=${value} (server.${id} was already defined)`, lineNo);
      servers.push(parseServerEntry(key, id, value, lineNo));
      continue;
    }

    const previous = seen.get(key);
    if (previous !== undefined) b.warnings.push(`${key} is set twice (lines ${previous} and ${lineNo}); the last value wins`);
    seen.set(key, lineNo);
    const origin: Origin = { key, raw: value, line: lineNo };

    const numeric = NUMERIC.find((n) => n.keys.includes(key));
    if (numeric) {
      const other = b.origins.get(numeric.field);
      if (other && other.key !== key) {
        b.warnings.push(`both ${other.key} and ${key} are set; using ${key}=${value} (line ${lineNo})`);
      }
      b.set(numeric.field, parseInteger(key, value, lineNo), origin);
    } else if ((STRING_KEYS as readonly string[]).includes(key)) {
      if (value === '') throw new ConfigError(key, `${key} must not be empty`, lineNo);
      b.set(key, value, origin);
    } else if (key === 'peerType') {
      b.set('peerType', parseRole(key, value, lineNo), origin);
    } else if (PEER_AUTH_KEY_NAMES.includes(key)) {
      b.set(key, value, origin);
    } else if (ZOOKEEPER_ONLY.has(key)) {
      b.warnings.push(`${key} (line ${lineNo}) is a ZooKeeper setting zabkit does not support; ignored`);
    } else {
      const known = [...NUMERIC.flatMap((n) => n.keys), ...STRING_KEYS, 'peerType', ...PEER_AUTH_KEY_NAMES];
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      b.warnings.push(`unknown key ${key} (line ${lineNo}) ignored${near ? `; did you mean ${near}?` : ''}`);
    }
  }
  return servers;
}

/** Applies defaults and checks ranges and cross-field rules. Values arrive typed; origins name their keys. */
function finish(b: Builder, servers: ServerEntry[], baseDir: string | undefined): ParsedConfig {
  const v = b.values;
  for (const n of NUMERIC) {
    const x = v[n.field];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) b.fail(n.field, `${b.describe(n.field)}: must be an integer (${n.what})`);
    const range = n.max === undefined ? `at least ${n.min}` : `${n.min}..${n.max}`;
    if (x < n.min || (n.max !== undefined && x > n.max)) b.fail(n.field, `${b.describe(n.field)}: out of range, must be ${range} (${n.what})`);
  }
  for (const k of STRING_KEYS) {
    if (v[k] !== undefined && (typeof v[k] !== 'string' || v[k] === '')) b.fail(k, `${b.describe(k)}: must be a non-empty string`);
  }
  if (v.peerType !== undefined && v.peerType !== 'participant' && v.peerType !== 'observer') {
    b.fail('peerType', `${b.describe('peerType')}: must be 'participant' or 'observer'`);
  }

  const place = (dir: string): string => (baseDir !== undefined && !isAbsolute(dir) ? resolve(baseDir, dir) : dir);
  if (v.dataDir === undefined) {
    throw new ConfigError('dataDir', 'dataDir is required: where snapshots and the myid file live (example: dataDir=/var/lib/zabkit)');
  }
  const dataDir = place(v.dataDir as string);
  const dataLogDir = v.dataLogDir === undefined ? dataDir : place(v.dataLogDir as string);

  const tickTime = (v.tickTime as number | undefined) ?? 2000;
  const minSessionTimeout = (v.minSessionTimeout as number | undefined) ?? 2 * tickTime;
  const maxSessionTimeout = (v.maxSessionTimeout as number | undefined) ?? 20 * tickTime;
  if (minSessionTimeout > maxSessionTimeout) {
    const minText = v.minSessionTimeout === undefined ? `minSessionTimeout (default 2*tickTime = ${minSessionTimeout})` : b.describe('minSessionTimeout');
    const maxText = v.maxSessionTimeout === undefined ? `maxSessionTimeout (default 20*tickTime = ${maxSessionTimeout})` : b.describe('maxSessionTimeout');
    const key = v.minSessionTimeout !== undefined ? 'minSessionTimeout' : 'maxSessionTimeout';
    b.fail(key, `${minText} must not be larger than ${maxText}`);
  }

  const snapRetainCount = (v.snapRetainCount as number | undefined) ?? 3;
  if (snapRetainCount < 3) {
    b.warnings.push(`${b.describe('snapRetainCount')} keeps fewer than 3 snapshots; one corrupt snapshot may then leave no way to recover`);
  }

  // The ensemble.
  servers.sort((x, y) => x.id - y.id);
  const ids = new Set<number>();
  const endpoints = new Map<string, number>();
  for (const s of servers) {
    const key = `server.${s.id}`;
    if (ids.has(s.id)) throw new ConfigError(key, `duplicate server id ${s.id}`);
    ids.add(s.id);
    for (const port of [s.quorumPort, s.electionPort]) {
      const ep = `${s.host}:${port}`;
      const other = endpoints.get(ep);
      if (other !== undefined) throw new ConfigError(key, `${key} uses ${ep}, already used by server.${other}`);
      endpoints.set(ep, s.id);
    }
  }
  if (servers.length > 0 && !servers.some((s) => s.role === 'participant')) {
    throw new ConfigError(`server.${servers[0]!.id}`, 'every server.N entry is an observer; at least one participant is needed to form a quorum');
  }
  const voters = servers.filter((s) => s.role === 'participant').length;
  if (voters > 0 && voters % 2 === 0) {
    b.warnings.push(`${voters} voting servers tolerate no more failures than ${voters - 1}; an odd number is usual`);
  }

  let myid = v.myid as number | undefined;
  if (myid === undefined) {
    if (servers.length > 0) {
      throw new ConfigError(
        'myid',
        `myid is not set and this config lists ${servers.length} server.N entries, so this server must know which one it is: ` +
          `write its id to ${join(dataDir, 'myid')} (e.g. echo ${servers[0]!.id} > ${join(dataDir, 'myid')}) or pass --myid N`,
      );
    }
    myid = 1;
  }
  const self = servers.find((s) => s.id === myid);
  if (servers.length > 0 && !self) {
    b.fail('myid', `myid ${myid} is not among the server.N entries (${servers.map((s) => s.id).join(', ')})`);
  }

  let peerType: PeerRole = (v.peerType as PeerRole | undefined) ?? 'participant';
  if (self) {
    if (v.peerType !== undefined && v.peerType !== self.role) {
      b.warnings.push(`${b.describe('peerType')} disagrees with server.${self.id} (${self.role}); using ${self.role} from the server list`);
    }
    peerType = self.role;
  }

  let clientPort = v.clientPort as number | undefined;
  let clientPortAddress = v.clientPortAddress as string | undefined;
  if (self?.clientPort !== undefined) {
    if (clientPort !== undefined && clientPort !== self.clientPort) {
      b.fail('clientPort', `${b.describe('clientPort')} differs from the client port ${self.clientPort} in server.${self.id}`);
    }
    clientPort = self.clientPort;
  }
  if (self?.clientPortAddress !== undefined) {
    if (clientPortAddress !== undefined && clientPortAddress !== self.clientPortAddress) {
      b.fail('clientPortAddress', `${b.describe('clientPortAddress')} differs from the client address ${self.clientPortAddress} in server.${self.id}`);
    }
    clientPortAddress = self.clientPortAddress;
  }
  if (clientPortAddress === undefined) {
    clientPortAddress = '127.0.0.1';
    if (servers.some((s) => !LOOPBACK.test(s.host))) {
      b.warnings.push(
        'clientPortAddress defaults to 127.0.0.1 (zabkit has no authentication yet), so clients on other hosts cannot connect; ' +
          'set clientPortAddress=0.0.0.0 to serve them',
      );
    }
  }

  const limits = clientLimits(b);
  const config: ServerConfig = {
    tickTime,
    initLimit: (v.initLimit as number | undefined) ?? 10,
    syncLimit: (v.syncLimit as number | undefined) ?? 5,
    dataDir,
    dataLogDir,
    clientPort: clientPort ?? 2181,
    clientPortAddress,
    minSessionTimeout,
    maxSessionTimeout,
    maxClientCnxns: (v.maxClientCnxns as number | undefined) ?? 60,
    snapCount: (v.snapCount as number | undefined) ?? 100_000,
    preAllocSize: (v.preAllocSize as number | undefined) ?? PREALLOCATE_BYTES / 1024,
    snapRetainCount,
    purgeInterval: (v.purgeInterval as number | undefined) ?? 0,
    maxDataBytes: (v.maxDataBytes as number | undefined) ?? 1024 * 1024,
    containerCheckIntervalMs: (v.containerCheckIntervalMs as number | undefined) ?? 60_000,
    ...limits,
    myid,
    servers,
    peerType,
    peerAuth: finishPeerAuth(v, (key, message) => b.fail(key, message), place),
  };
  return { config, warnings: b.warnings };
}

type ClientLimits = Pick<
  ServerConfig,
  | 'maxWatchesPerSession' | 'globalOutstandingLimit' | 'clientOutstandingLimit' | 'clientOutstandingCloseLimit'
  | 'clientUnsentBytesLimit' | 'clientUnsentBytesCloseLimit' | 'clientHandshakeTimeoutMs' | 'maxHandshakingCnxns'
>;

/** The bounds on what clients can make the server hold, with defaults; a close limit below its pause limit is refused. */
function clientLimits(b: Builder): ClientLimits {
  const v = b.values as Partial<Record<keyof ClientLimits, number>>;
  const out: ClientLimits = {
    maxWatchesPerSession: v.maxWatchesPerSession ?? 65_536,
    globalOutstandingLimit: v.globalOutstandingLimit ?? 2000,
    clientOutstandingLimit: v.clientOutstandingLimit ?? 1000,
    clientOutstandingCloseLimit: v.clientOutstandingCloseLimit ?? 10_000,
    clientUnsentBytesLimit: v.clientUnsentBytesLimit ?? 8 * 1024 * 1024,
    clientUnsentBytesCloseLimit: v.clientUnsentBytesCloseLimit ?? 64 * 1024 * 1024,
    clientHandshakeTimeoutMs: v.clientHandshakeTimeoutMs ?? 5000,
    maxHandshakingCnxns: v.maxHandshakingCnxns ?? 16,
  };
  for (const [pause, close] of [['clientOutstandingLimit', 'clientOutstandingCloseLimit'], ['clientUnsentBytesLimit', 'clientUnsentBytesCloseLimit']] as const) {
    if (out[close] < out[pause]) {
      const text = (f: keyof ClientLimits) => (v[f] === undefined ? `${f} (default ${out[f]})` : b.describe(f));
      b.fail(v[close] === undefined ? pause : close, `${text(close)} must not be below ${text(pause)}`);
    }
  }
  return out;
}

/**
 * Parses zoo.cfg text. Pure: reads no files, so myid must come from `opts.myid`
 * or a `myid=` line when server.N lines exist (loadConfig also reads `<dataDir>/myid`).
 * Relative dataDir / dataLogDir are resolved against `opts.baseDir` when given.
 * Throws ConfigError naming the key and the bad value.
 */
export function parseConfig(text: string, opts: { myid?: number; baseDir?: string } = {}): ParsedConfig {
  const b = new Builder();
  const servers = parseText(text, b);
  if (opts.myid !== undefined) b.set('myid', opts.myid, { key: 'myid', raw: String(opts.myid) });
  return finish(b, servers, opts.baseDir);
}

/**
 * Reads and parses a zoo.cfg file. myid comes from `opts.myid` (the --myid flag),
 * else a `myid=` line, else the `<dataDir>/myid` file, else 1 for a standalone server.
 */
export async function loadConfig(file: string, opts: { myid?: number } = {}): Promise<ParsedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('config', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  const baseDir = dirname(resolve(file));
  const b = new Builder();
  const servers = parseText(text, b);
  if (opts.myid !== undefined) {
    b.set('myid', opts.myid, { key: 'myid', raw: String(opts.myid) });
  } else if (b.values.myid === undefined && typeof b.values.dataDir === 'string') {
    const myidFile = join(resolve(baseDir, b.values.dataDir), 'myid');
    let content: string | undefined;
    try {
      content = await readFile(myidFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ConfigError('myid', `cannot read ${myidFile}: ${(err as Error).message}`);
      }
    }
    if (content !== undefined) {
      const raw = content.trim();
      if (!/^\d+$/.test(raw)) throw new ConfigError('myid', `${myidFile} must hold a server id (1..255), got '${raw}'`);
      b.set('myid', Number(raw), { key: 'myid', raw: `${raw} (from ${myidFile})` });
    }
  }
  return finish(b, servers, baseDir);
}

/** Builds a config from an object (programmatic use), with the same defaults and validation as zoo.cfg. */
export function configFromObject(input: ConfigInput): ParsedConfig {
  const b = new Builder();
  for (const [field, value] of Object.entries(input)) {
    if (value === undefined || field === 'servers') continue;
    if (field === 'peerAuth') {
      for (const [name, x] of Object.entries(value as Partial<PeerAuthConfig>)) {
        const key = PEER_AUTH_KEYS[name as keyof typeof PEER_AUTH_KEYS];
        if (key === undefined) b.warnings.push(`unknown option peerAuth.${name} ignored`);
        else if (x !== undefined) b.set(key, x, { key: `peerAuth.${name}`, raw: String(x) });
      }
      continue;
    }
    const known = NUMERIC.some((n) => n.field === field) || (STRING_KEYS as readonly string[]).includes(field) || field === 'peerType';
    if (!known) {
      b.warnings.push(`unknown option ${field} ignored`);
      continue;
    }
    b.set(field, value, { key: field, raw: typeof value === 'string' ? value : String(value) });
  }
  const servers: ServerEntry[] = [];
  for (const s of input.servers ?? []) {
    const key = `server.${String(s.id)}`;
    if (!Number.isInteger(s.id) || s.id < 1 || s.id > 255) throw new ConfigError(key, `${key}: server id must be 1..255`);
    if (typeof s.host !== 'string' || s.host === '') throw new ConfigError(key, `${key}: host must be a non-empty string`);
    for (const [name, port] of [['quorumPort', s.quorumPort], ['electionPort', s.electionPort], ['clientPort', s.clientPort]] as const) {
      if (port === undefined && name === 'clientPort') continue;
      if (!Number.isInteger(port) || port! < 1 || port! > 65535) throw new ConfigError(key, `${key}: ${name} ${String(port)} is out of range (1..65535)`);
    }
    if (s.quorumPort === s.electionPort) throw new ConfigError(key, `${key}: quorumPort and electionPort are both ${s.quorumPort}`);
    const role = s.role ?? 'participant';
    if (role !== 'participant' && role !== 'observer') throw new ConfigError(key, `${key}: role must be 'participant' or 'observer', got '${String(role)}'`);
    if (servers.some((x) => x.id === s.id)) throw new ConfigError(key, `duplicate server id ${s.id}`);
    servers.push({ ...s, role });
  }
  return finish(b, servers, undefined);
}
