// node packages/bench/profiling/summarize.mjs FILE.cpuprofile [top]: self time by function and by file.
import { readFileSync } from 'node:fs';
const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const total = [...dt.values()].reduce((a, b) => a + b, 0);
const fn = new Map();
const files = new Map();
for (const [id, t] of dt) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const short = (cf.url || '').replace(/^.*\/(packages|node_modules)\//, '$1/').replace(/^file:\/\//, '');
  const key = `${cf.functionName || '(anonymous)'} ${short}:${cf.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + t);
  const fk = short || `(${cf.functionName})`;
  files.set(fk, (files.get(fk) ?? 0) + t);
}
const show = (m, title) => {
  console.log(`\n${title} (total ${(total / 1e6).toFixed(2)} s sampled)`);
  for (const [k, t] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
};
show(fn, 'self time by function');
show(files, 'self time by file');
