// Profiling zabkit's restart outside the bench (the bench kill -9s the node, which writes no profile):
//   node packages/bench/profiling/recovery.mjs make DIR [TXNS]
//     a single-node data dir DIR/node1 with TXNS (default 1M) setData txns of 100 bytes in its txn log
//     and no snapshot (snapCount 10M), left as a kill -9 leaves it;
//   node packages/bench/profiling/recovery.mjs restart DIR/node1 [node options, e.g. --cpu-prof --cpu-prof-dir=P]
//     copies it to DIR/node1.run, starts `zabkit server` on the copy, prints the time from spawn to
//     "ready" and the peak RSS, then stops it (SIGTERM: a --cpu-prof profile gets written).
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@zabkit/client';
import { LocalCluster } from 'zabkit';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'dist', 'bin.js');
const VALUE = Buffer.alloc(100, 0x61);

async function make(dir, txns) {
  const lc = new LocalCluster({ nodes: 1, dataDir: dir, extraConfig: { snapCount: 10_000_000 }, readyTimeoutMs: 60_000 });
  await lc.start();
  const clients = await Promise.all(Array.from({ length: 4 }, () => connect(lc.address(1), { shuffle: false })));
  await clients[0].create('/bench', null);
  for (let k = 0; k < 64; k++) await clients[0].create(`/bench/k${k}`, VALUE);
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: 64 }, async (_, w) => {
      while (next < txns) {
        next++;
        await clients[w % 4].setData(`/bench/k${w}`, VALUE);
      }
    }),
  );
  console.log(`${txns} setData txns in ${Date.now() - t0} ms; data dir ${join(dir, 'node1')}`);
  await lc.kill(1);
}

function restart(src, nodeArgs) {
  const work = `${src}.run`;
  execFileSync('rm', ['-rf', work]);
  execFileSync('cp', ['-a', src, work]);
  const cfg = join(work, 'zoo.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^dataDir=.*$/m, `dataDir=${work}`).replace(/^clientPort=.*$/m, 'clientPort=0'));
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'server', '--config', cfg, '--myid', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let peakMb = 0;
  const rss = setInterval(() => {
    try {
      peakMb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      /* gone */
    }
  }, 20);
  let buf = '';
  const onData = (d) => {
    buf += d;
    for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
      const line = buf.slice(0, nl);
      if (/recovered|WARN|ERROR/.test(line)) console.log(line);
      if (/ ready on /.test(line)) {
        console.log(`ready ${(performance.now() - t0).toFixed(0)} ms after spawn; peak RSS ${peakMb.toFixed(0)} MB`);
        setTimeout(() => child.kill('SIGTERM'), 500); // (the server installs its SIGTERM handler just after "ready")
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('exit', (code, signal) => {
    clearInterval(rss);
    console.log(`server exited (${code ?? signal})`);
  });
}

const [cmd, dir, ...rest] = process.argv.slice(2);
if (cmd === 'make' && dir) {
  await make(dir, Number(rest[0] ?? 1_000_000));
  process.exit(0); // the clients would go on trying to reconnect to the killed server
} else if (cmd === 'restart' && dir) restart(dir, rest);
else {
  console.error('usage: recovery.mjs make DIR [TXNS] | restart DIR/node1 [node options]');
  process.exit(2);
}
