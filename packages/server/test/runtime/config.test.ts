import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, configFromObject, loadConfig, parseConfig } from '../../src/runtime/config.js';

/** The typical zoo.cfg from the reference, section 9. */
const TYPICAL = `
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zabkit
dataLogDir=/var/lib/zabkit/log
clientPort=2181
server.1=host1:2888:3888
server.2=host2:2888:3888
server.3=host3:2888:3888:observer
`;

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

async function configErrorAsync(p: Promise<unknown>): Promise<ConfigError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConfigError);
  return e as ConfigError;
}

describe('parseConfig', () => {
  it('reads the typical zoo.cfg', () => {
    const { config, warnings } = parseConfig(TYPICAL, { myid: 2 });
    expect(config).toMatchObject({
      tickTime: 2000,
      initLimit: 10,
      syncLimit: 5,
      dataDir: '/var/lib/zabkit',
      dataLogDir: '/var/lib/zabkit/log',
      clientPort: 2181,
      myid: 2,
      peerType: 'participant',
    });
    expect(config.servers).toEqual([
      { id: 1, host: 'host1', quorumPort: 2888, electionPort: 3888, role: 'participant' },
      { id: 2, host: 'host2', quorumPort: 2888, electionPort: 3888, role: 'participant' },
      { id: 3, host: 'host3', quorumPort: 2888, electionPort: 3888, role: 'observer' },
    ]);
    // Two voters is legal but worth saying; the loopback default is worth saying for remote hosts.
    expect(warnings.some((w) => w.includes('2 voting servers'))).toBe(true);
    expect(warnings.some((w) => w.includes('clientPortAddress'))).toBe(true);
  });

  it('the observer in the list is an observer when it is us', () => {
    const { config } = parseConfig(TYPICAL, { myid: 3 });
    expect(config.peerType).toBe('observer');
  });

  it('applies the documented defaults', () => {
    const { config, warnings } = parseConfig('dataDir=/data\n');
    expect(config).toEqual({
      tickTime: 2000,
      initLimit: 10,
      syncLimit: 5,
      dataDir: '/data',
      dataLogDir: '/data',
      clientPort: 2181,
      clientPortAddress: '127.0.0.1',
      minSessionTimeout: 4000,
      maxSessionTimeout: 40000,
      maxClientCnxns: 60,
      snapCount: 100000,
      preAllocSize: 4096,
      snapRetainCount: 3,
      purgeInterval: 0,
      maxDataBytes: 1048576,
      containerCheckIntervalMs: 60000,
      maxWatchesPerSession: 65536,
      globalOutstandingLimit: 2000,
      clientOutstandingLimit: 1000,
      clientOutstandingCloseLimit: 10000,
      clientUnsentBytesLimit: 8 * 1024 * 1024,
      clientUnsentBytesCloseLimit: 64 * 1024 * 1024,
      clientHandshakeTimeoutMs: 5000,
      maxHandshakingCnxns: 16,
      myid: 1,
      servers: [],
      peerType: 'participant',
      peerAuth: { sslQuorum: false, hostnameVerification: true, insecure: false },
    });
    expect(warnings).toEqual([]);
  });

  it('reads the client limits, and refuses a close limit below its pause limit naming both', () => {
    const { config, warnings } = parseConfig(
      'dataDir=/d\nglobalOutstandingLimit=50\nclientOutstandingLimit=10\nclientOutstandingCloseLimit=20\n' +
        'clientUnsentBytesLimit=1000\nclientUnsentBytesCloseLimit=2000\nmaxWatchesPerSession=7\nclientHandshakeTimeoutMs=300\nmaxHandshakingCnxns=2\n',
    );
    expect(warnings).toEqual([]);
    expect(config).toEqual(
      expect.objectContaining({
        globalOutstandingLimit: 50,
        clientOutstandingLimit: 10,
        clientOutstandingCloseLimit: 20,
        clientUnsentBytesLimit: 1000,
        clientUnsentBytesCloseLimit: 2000,
        maxWatchesPerSession: 7,
        clientHandshakeTimeoutMs: 300,
        maxHandshakingCnxns: 2,
      }),
    );
    const e = configError(() => parseConfig('dataDir=/d\nclientOutstandingCloseLimit=500\n'));
    expect(e.key).toBe('clientOutstandingCloseLimit');
    expect(e.message).toMatch(/clientOutstandingCloseLimit=500 must not be below clientOutstandingLimit \(default 1000\)/);
    expect(e.message).toContain('(line 2)');
    expect(configError(() => parseConfig('dataDir=/d\nclientUnsentBytesLimit=0\n')).message).toMatch(/clientUnsentBytesLimit=0: out of range/);
  });

  it('derives session timeout defaults from tickTime', () => {
    const { config } = parseConfig('dataDir=/d\ntickTime=500\n');
    expect(config.minSessionTimeout).toBe(1000);
    expect(config.maxSessionTimeout).toBe(10000);
  });

  it('reads every supported key, including the ZooKeeper dotted names', () => {
    const { config, warnings } = parseConfig(
      [
        'tickTime=100',
        'initLimit=20',
        'syncLimit=2',
        'dataDir=/d',
        'dataLogDir=/l',
        'clientPort=12181',
        'clientPortAddress=0.0.0.0',
        'minSessionTimeout=300',
        'maxSessionTimeout=9000',
        'maxClientCnxns=0',
        'snapCount=500',
        'preAllocSize=65536',
        'autopurge.snapRetainCount=5',
        'autopurge.purgeInterval=24',
        'jute.maxbuffer=4096',
        'znode.container.checkIntervalMs=1000',
      ].join('\n'),
    );
    expect(config).toMatchObject({
      tickTime: 100, initLimit: 20, syncLimit: 2, dataDir: '/d', dataLogDir: '/l', clientPort: 12181,
      clientPortAddress: '0.0.0.0', minSessionTimeout: 300, maxSessionTimeout: 9000, maxClientCnxns: 0,
      snapCount: 500, preAllocSize: 65536, snapRetainCount: 5, purgeInterval: 24, maxDataBytes: 4096, containerCheckIntervalMs: 1000,
    });
    expect(warnings).toEqual([]);
    expect(parseConfig('dataDir=/d\nmaxDataBytes=2048').config.maxDataBytes).toBe(2048);
  });

  it('ignores comments and blank lines and trims whitespace around keys and values', () => {
    const { config, warnings } = parseConfig('# a comment\n\n   \n  tickTime =  3000  \r\n\tdataDir\t=\t/x y/z\t\n  # indented comment\n');
    expect(config.tickTime).toBe(3000);
    expect(config.dataDir).toBe('/x y/z');
    expect(warnings).toEqual([]);
  });

  it('warns about an unknown key, naming it, and keeps going', () => {
    const { config, warnings } = parseConfig('dataDir=/d\nfrobnicate=yes\n');
    expect(config.dataDir).toBe('/d');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('frobnicate');
  });

  it('suggests the right spelling for a wrongly cased key', () => {
    const { config, warnings } = parseConfig('dataDir=/d\nticktime=5000\n');
    expect(config.tickTime).toBe(2000);
    expect(warnings[0]).toMatch(/ticktime.*did you mean tickTime/);
  });

  it('says so when a ZooKeeper setting is not supported', () => {
    const { warnings } = parseConfig('dataDir=/d\nstandaloneEnabled=false\n');
    expect(warnings[0]).toMatch(/standaloneEnabled.*not support/);
  });

  it('preAllocSize: kilobytes, 0 turns preallocation off, a bad value is an error naming key and value', () => {
    expect(parseConfig('dataDir=/d\npreAllocSize=0\n')).toEqual({ config: expect.objectContaining({ preAllocSize: 0 }), warnings: [] });
    expect(parseConfig('dataDir=/d\npreAllocSize=16\n').config.preAllocSize).toBe(16);
    for (const [value, why] of [['-1', /preAllocSize=-1: out of range, must be 0\.\./], ['64M', /preAllocSize must be an integer, got '64M'/], ['1.5', /got '1\.5'/]] as const) {
      const e = configError(() => parseConfig(`dataDir=/d\npreAllocSize=${value}\n`));
      expect(e.key).toBe('preAllocSize');
      expect(e.message).toMatch(why);
      expect(e.message).toContain('(line 2)');
    }
    expect(configError(() => configFromObject({ dataDir: '/d', preAllocSize: -4 })).message).toMatch(/preAllocSize=-4.*kilobytes/);
  });

  it('warns when a key is set twice and the last value wins', () => {
    const { config, warnings } = parseConfig('dataDir=/d\ntickTime=1000\ntickTime=3000\n');
    expect(config.tickTime).toBe(3000);
    expect(warnings[0]).toMatch(/tickTime is set twice \(lines 2 and 3\)/);
  });

  it('accepts snapRetainCount below 3 with a warning', () => {
    const { config, warnings } = parseConfig('dataDir=/d\nautopurge.snapRetainCount=1\n');
    expect(config.snapRetainCount).toBe(1);
    expect(warnings.some((w) => w.includes('autopurge.snapRetainCount=1'))).toBe(true);
  });

  it('resolves a relative dataDir and dataLogDir against baseDir', () => {
    const { config } = parseConfig('dataDir=data\ndataLogDir=../log\n', { baseDir: '/etc/zabkit' });
    expect(config.dataDir).toBe('/etc/zabkit/data');
    expect(config.dataLogDir).toBe('/etc/log');
    expect(parseConfig('dataDir=/abs\n', { baseDir: '/etc/zabkit' }).config.dataDir).toBe('/abs');
    // Without baseDir a relative path is left as written.
    expect(parseConfig('dataDir=data\n').config.dataDir).toBe('data');
  });

  it('a standalone config with no server lines needs no myid', () => {
    const { config } = parseConfig('dataDir=/d\nclientPort=2191\n');
    expect(config.servers).toEqual([]);
    expect(config.myid).toBe(1);
    expect(parseConfig('dataDir=/d\n', { myid: 7 }).config.myid).toBe(7);
  });

  it('takes a participant/observer suffix in any case and peerType', () => {
    const text = 'dataDir=/d\nserver.1=a:1:2:PARTICIPANT\nserver.2=b:1:2\nserver.3=c:1:2\nserver.9=d:1:2:Observer\n';
    const { config } = parseConfig(text, { myid: 9 });
    expect(config.servers.map((s) => s.role)).toEqual(['participant', 'participant', 'participant', 'observer']);
    expect(config.peerType).toBe('observer');
    expect(parseConfig('dataDir=/d\npeerType=observer\n').config.peerType).toBe('observer');
  });

  it('warns when peerType disagrees with the server list, and the list wins', () => {
    const { config, warnings } = parseConfig(`${TYPICAL}peerType=observer\n`, { myid: 1 });
    expect(config.peerType).toBe('participant');
    expect(warnings.some((w) => w.includes('peerType=observer') && w.includes('server.1'))).toBe(true);
  });

  it("parses ZooKeeper's ;clientPort suffix into the server entry and uses our own", () => {
    const text = [
      'dataDir=/d',
      'server.1=h1:2888:3888;2181',
      'server.2=h2:2888:3888:participant;0.0.0.0:2182',
      'server.3=[::1]:2888:3888:observer;[::1]:2183',
    ].join('\n');
    const { config } = parseConfig(text, { myid: 2 });
    expect(config.servers[0]).toEqual({ id: 1, host: 'h1', quorumPort: 2888, electionPort: 3888, role: 'participant', clientPort: 2181 });
    expect(config.servers[1]).toMatchObject({ id: 2, clientPort: 2182, clientPortAddress: '0.0.0.0' });
    expect(config.servers[2]).toMatchObject({ id: 3, host: '::1', role: 'observer', clientPort: 2183, clientPortAddress: '::1' });
    expect(config.clientPort).toBe(2182);
    expect(config.clientPortAddress).toBe('0.0.0.0');
  });

  it('sorts servers by id and takes myid from a myid= line when no flag is given', () => {
    const { config } = parseConfig('dataDir=/d\nmyid=2\nserver.3=c:1:2\nserver.1=a:1:2\nserver.2=b:1:2\n');
    expect(config.servers.map((s) => s.id)).toEqual([1, 2, 3]);
    expect(config.myid).toBe(2);
    expect(parseConfig('dataDir=/d\nmyid=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2', { myid: 3 }).config.myid).toBe(3);
  });
});

describe('parseConfig errors name the key and the bad value', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['non-numeric tickTime', 'dataDir=/d\ntickTime=fast', 'tickTime', /tickTime.*'fast'/],
    ['zero tickTime', 'dataDir=/d\ntickTime=0', 'tickTime', /tickTime=0/],
    ['fractional initLimit', 'dataDir=/d\ninitLimit=2.5', 'initLimit', /initLimit.*'2\.5'/],
    ['negative initLimit', 'dataDir=/d\ninitLimit=-1', 'initLimit', /initLimit=-1/],
    ['negative syncLimit', 'dataDir=/d\nsyncLimit=-5', 'syncLimit', /syncLimit=-5/],
    ['negative maxClientCnxns', 'dataDir=/d\nmaxClientCnxns=-1', 'maxClientCnxns', /maxClientCnxns=-1/],
    ['clientPort out of range', 'dataDir=/d\nclientPort=70000', 'clientPort', /clientPort=70000.*0\.\.65535/],
    ['negative clientPort', 'dataDir=/d\nclientPort=-1', 'clientPort', /clientPort=-1/],
    ['inline comment', 'dataDir=/d\nclientPort=2181 # client', 'clientPort', /'2181 # client'.*line of their own/],
    ['snapRetainCount of 0', 'dataDir=/d\nautopurge.snapRetainCount=0', 'autopurge.snapRetainCount', /autopurge\.snapRetainCount=0/],
    ['negative purgeInterval', 'dataDir=/d\nautopurge.purgeInterval=-1', 'autopurge.purgeInterval', /autopurge\.purgeInterval=-1/],
    ['zero jute.maxbuffer', 'dataDir=/d\njute.maxbuffer=0', 'jute.maxbuffer', /jute\.maxbuffer=0/],
    ['min > max session timeout', 'dataDir=/d\nminSessionTimeout=9000\nmaxSessionTimeout=5000', 'minSessionTimeout', /minSessionTimeout=9000.*maxSessionTimeout=5000/],
    ['max below the default min', 'dataDir=/d\nmaxSessionTimeout=3000', 'maxSessionTimeout', /default 2\*tickTime = 4000.*maxSessionTimeout=3000/],
    ['bad peerType', 'dataDir=/d\npeerType=leader', 'peerType', /peerType.*'leader'/],
    ['empty dataDir', 'dataDir=', 'dataDir', /dataDir must not be empty/],
    ['missing dataDir', 'tickTime=2000', 'dataDir', /dataDir is required/],
    ['line without =', 'dataDir=/d\ntickTime 2000', 'tickTime 2000', /expected key=value, got 'tickTime 2000'/],
    ['duplicate server id', 'dataDir=/d\nmyid=1\nserver.1=a:2888:3888\nserver.1=b:2888:3888', 'server.1', /duplicate server id 1.*server\.1=b:2888:3888/],
    ['server id not a number', 'dataDir=/d\nserver.x=a:2888:3888', 'server.x', /server\.x.*'x'/],
    ['server id 0', 'dataDir=/d\nserver.0=a:2888:3888', 'server.0', /server id 0 is out of range/],
    ['server missing ports', 'dataDir=/d\nmyid=1\nserver.1=host1', 'server.1', /server\.1=host1: missing ports/],
    ['server with one port', 'dataDir=/d\nmyid=1\nserver.1=host1:2888', 'server.1', /server\.1=host1:2888: wrong number of fields/],
    ['server port out of range', 'dataDir=/d\nmyid=1\nserver.1=h:2888:99999', 'server.1', /server\.1=h:2888:99999: electionPort 99999 is out of range/],
    ['server port not a number', 'dataDir=/d\nmyid=1\nserver.1=h:abc:3888', 'server.1', /quorumPort 'abc' is not a number/],
    ['server bad role', 'dataDir=/d\nmyid=1\nserver.1=h:2888:3888:witness', 'server.1', /server\.1.*'witness'/],
    ['server same ports', 'dataDir=/d\nmyid=1\nserver.1=h:2888:2888', 'server.1', /both 2888/],
    ['server empty host', 'dataDir=/d\nmyid=1\nserver.1=:2888:3888', 'server.1', /bad host ''/],
    ['server bad client port', 'dataDir=/d\nmyid=1\nserver.1=h:2888:3888;port', 'server.1', /clientPort 'port' is not a number/],
    ['two servers on one endpoint', 'dataDir=/d\nmyid=1\nserver.1=h:2888:3888\nserver.2=h:2888:3889', 'server.2', /h:2888, already used by server\.1/],
    ['only observers', 'dataDir=/d\nmyid=1\nserver.1=h:2888:3888:observer', 'server.1', /at least one participant/],
    ['myid not in server list', 'dataDir=/d\nmyid=4\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2', 'myid', /myid 4 is not among the server\.N entries \(1, 2, 3\)/],
    ['myid out of range', 'dataDir=/d\nmyid=256', 'myid', /myid=256.*1\.\.255/],
    ['own clientPort disagrees', 'dataDir=/d\nclientPort=2181\nmyid=1\nserver.1=h:2888:3888;2182', 'clientPort', /clientPort=2181 differs.*2182/],
  ];
  it.each(cases)('%s', (_name, text, key, message) => {
    const e = configError(() => parseConfig(text));
    expect(e.key).toBe(key);
    expect(e.message).toMatch(message);
  });

  it('says how to set myid when server lines exist and none is given', () => {
    const e = configError(() => parseConfig(TYPICAL));
    expect(e.key).toBe('myid');
    expect(e.message).toContain('/var/lib/zabkit/myid');
    expect(e.message).toContain('--myid');
  });

  it('reports the line number of the bad setting', () => {
    const e = configError(() => parseConfig('# header\ndataDir=/d\n\ntickTime=soon\n'));
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/\(line 4\)$/);
    expect(e.name).toBe('ConfigError');
  });

  it('a myid flag that is not in the list is an error naming myid', () => {
    const e = configError(() => parseConfig(TYPICAL, { myid: 9 }));
    expect(e.key).toBe('myid');
    expect(e.message).toMatch(/myid 9 is not among/);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zabkit-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const ensemble = (dataDir: string) =>
    `tickTime=2000\ndataDir=${dataDir}\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n`;

  it('reads myid from <dataDir>/myid', async () => {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'myid'), '2\n');
    await writeFile(join(dir, 'zoo.cfg'), ensemble(dataDir));
    const { config, warnings } = await loadConfig(join(dir, 'zoo.cfg'));
    expect(config.myid).toBe(2);
    expect(config.servers).toHaveLength(3);
    expect(config.dataDir).toBe(dataDir);
    // All peers on loopback: no warning about the loopback client address.
    expect(warnings).toEqual([]);
  });

  it('resolves a relative dataDir against the config file directory, and finds myid there', async () => {
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'myid'), '3');
    await writeFile(join(dir, 'zoo.cfg'), ensemble('data'));
    const { config } = await loadConfig(join(dir, 'zoo.cfg'));
    expect(config.dataDir).toBe(join(dir, 'data'));
    expect(config.dataLogDir).toBe(join(dir, 'data'));
    expect(config.myid).toBe(3);
  });

  it('the --myid flag wins over the myid file', async () => {
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'myid'), '2\n');
    await writeFile(join(dir, 'zoo.cfg'), ensemble(join(dir, 'data')));
    expect((await loadConfig(join(dir, 'zoo.cfg'), { myid: 1 })).config.myid).toBe(1);
  });

  it('with server lines and no myid anywhere, fails saying how to fix it', async () => {
    await writeFile(join(dir, 'zoo.cfg'), ensemble(join(dir, 'data')));
    const e = await configErrorAsync(loadConfig(join(dir, 'zoo.cfg')));
    expect(e.key).toBe('myid');
    expect(e.message).toContain(join(dir, 'data', 'myid'));
    expect(e.message).toContain('--myid');
  });

  it('a standalone config with no myid file defaults myid to 1', async () => {
    await writeFile(join(dir, 'zoo.cfg'), `dataDir=${join(dir, 'data')}\nclientPort=0\n`);
    const { config } = await loadConfig(join(dir, 'zoo.cfg'));
    expect(config.myid).toBe(1);
    expect(config.servers).toEqual([]);
    expect(config.clientPort).toBe(0);
  });

  it('a garbled myid file is an error naming the file', async () => {
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'myid'), 'two\n');
    await writeFile(join(dir, 'zoo.cfg'), ensemble(join(dir, 'data')));
    const e = await configErrorAsync(loadConfig(join(dir, 'zoo.cfg')));
    expect(e.key).toBe('myid');
    expect(e.message).toContain(join(dir, 'data', 'myid'));
    expect(e.message).toContain("'two'");
  });

  it('a myid file naming a server not in the list is an error', async () => {
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'myid'), '5\n');
    await writeFile(join(dir, 'zoo.cfg'), ensemble(join(dir, 'data')));
    const e = await configErrorAsync(loadConfig(join(dir, 'zoo.cfg')));
    expect(e.key).toBe('myid');
    expect(e.message).toMatch(/myid 5 is not among/);
  });

  it('a missing config file is a ConfigError naming the file', async () => {
    const e = await configErrorAsync(loadConfig(join(dir, 'nope.cfg')));
    expect(e.message).toContain(join(dir, 'nope.cfg'));
  });
});

describe('configFromObject', () => {
  it('applies the same defaults', () => {
    const fromObject = configFromObject({ dataDir: '/d' }).config;
    expect(fromObject).toEqual(parseConfig('dataDir=/d').config);
  });

  it('accepts clientPort 0 (bind a free port) and explicit values', () => {
    const { config } = configFromObject({ dataDir: '/d', clientPort: 0, tickTime: 100, snapRetainCount: 4 });
    expect(config.clientPort).toBe(0);
    expect(config.minSessionTimeout).toBe(200);
    expect(config.snapRetainCount).toBe(4);
  });

  it('validates like the file parser, naming the field', () => {
    expect(configError(() => configFromObject({ dataDir: '/d', tickTime: -1 })).key).toBe('tickTime');
    expect(configError(() => configFromObject({ dataDir: '/d', tickTime: 1.5 })).message).toMatch(/tickTime=1\.5.*integer/);
    expect(configError(() => configFromObject({ dataDir: '/d', clientPort: 65536 })).key).toBe('clientPort');
    expect(configError(() => configFromObject({ dataDir: '/d', minSessionTimeout: 10, maxSessionTimeout: 5 })).key).toBe('minSessionTimeout');
    expect(configError(() => configFromObject({})).key).toBe('dataDir');
    expect(configError(() => configFromObject({ dataDir: '/d', tickTime: '2000' as unknown as number })).key).toBe('tickTime');
  });

  it('takes servers, defaulting role to participant', () => {
    const { config } = configFromObject({
      dataDir: '/d',
      myid: 1,
      servers: [
        { id: 2, host: '127.0.0.1', quorumPort: 2889, electionPort: 3889 },
        { id: 1, host: '127.0.0.1', quorumPort: 2888, electionPort: 3888 },
        { id: 3, host: '127.0.0.1', quorumPort: 2890, electionPort: 3890, role: 'observer' },
      ],
    });
    expect(config.servers.map((s) => [s.id, s.role])).toEqual([[1, 'participant'], [2, 'participant'], [3, 'observer']]);
  });

  it('rejects bad server entries and a myid outside the list', () => {
    const base = { id: 1, host: 'h', quorumPort: 2888, electionPort: 3888 };
    expect(configError(() => configFromObject({ dataDir: '/d', myid: 1, servers: [base, { ...base, host: 'g' }] })).message).toMatch(/duplicate server id 1/);
    expect(configError(() => configFromObject({ dataDir: '/d', myid: 1, servers: [{ ...base, quorumPort: 0 }] })).key).toBe('server.1');
    expect(configError(() => configFromObject({ dataDir: '/d', servers: [base] })).key).toBe('myid');
    expect(configError(() => configFromObject({ dataDir: '/d', myid: 2, servers: [base] })).message).toMatch(/myid 2 is not among/);
  });

  it('warns about unknown options', () => {
    const { warnings } = configFromObject({ dataDir: '/d', colour: 'blue' } as never);
    expect(warnings).toEqual(['unknown option colour ignored']);
  });
});
