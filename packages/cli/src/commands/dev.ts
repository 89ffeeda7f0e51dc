import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalCluster } from '../local-cluster.js';
import { runDemo } from '../demo.js';

/** `zabkit dev`: a local cluster of real server processes on 127.0.0.1. */
export async function runDev(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string', short: 'n', default: '1' },
      observers: { type: 'string', default: '0' },
      port: { type: 'string', short: 'p', default: '2181' },
      data: { type: 'string', short: 'd' },
      'tick-time': { type: 'string', default: '2000' },
      demo: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const nodes = Number(values.nodes);
  const observers = Number(values.observers);
  const basePort = Number(values.port);
  const tickTime = Number(values['tick-time']);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
    console.error(`zabkit dev: --nodes must be 1..9, got '${values.nodes}'`);
    return 2;
  }
  if (!Number.isInteger(observers) || observers < 0 || observers > 9) {
    console.error(`zabkit dev: --observers must be 0..9, got '${values.observers}'`);
    return 2;
  }
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535 - (nodes + observers) * 3) {
    console.error(`zabkit dev: --port must be a port number (0 = any free port), got '${values.port}'`);
    return 2;
  }
  // The demo gets its own throwaway data and free ports so it never clashes with a running cluster.
  const temp = values.data ? null : await mkdtemp(join(tmpdir(), 'zabkit-dev-'));
  const dataDir = values.data ? resolve(values.data) : temp!;
  const cluster = new LocalCluster({
    nodes,
    observers,
    basePort: values.demo ? 0 : basePort,
    dataDir,
    tickTime: Number.isInteger(tickTime) && tickTime > 0 ? tickTime : 2000,
    onLog: (id, line) => {
      if (values.verbose || / (WARN|ERROR) /.test(line)) console.error(`[node${id}] ${line}`);
    },
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await cluster.stop();
    if (temp) await rm(temp, { recursive: true, force: true });
  };
  try {
    await cluster.start();
    console.log(`zabkit dev cluster: ${nodes} voter(s)${observers ? ` + ${observers} observer(s)` : ''}, data in ${dataDir}`);
    console.log(`connect string: ${cluster.connectString}`);
    if (values.demo) {
      await runDemo(cluster.connectString, (line) => console.log(line));
      await stop();
      return 0;
    }
    console.log('Ctrl-C stops the cluster.');
    await new Promise<void>((resolveWait) => {
      process.once('SIGINT', () => resolveWait());
      process.once('SIGTERM', () => resolveWait());
    });
    console.log('stopping...');
    await stop();
    return 0;
  } catch (err) {
    await stop();
    throw err;
  }
}
