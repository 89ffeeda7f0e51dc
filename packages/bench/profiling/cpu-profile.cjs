// Preloaded into zabkit server processes by `pnpm bench --profile DIR` (NODE_OPTIONS=--require ...;
// Node refuses --cpu-prof in NODE_OPTIONS). Samples the CPU from start to exit and writes
// DIR/zabkit-<pid>.cpuprofile (open it in Chrome DevTools, or summarize with profiling/summarize.mjs).
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.BENCH_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 250 });
  session.post('Profiler.start');
  let done = false;
  process.on('exit', () => {
    if (done) return;
    done = true;
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(path.join(dir, `zabkit-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
