import { FIGURES, bestPeer, leads, ratio, type Row } from './figures.js';

export function fmt(v: number | null, unit?: string): string {
  if (v === null) return '—';
  if (unit === 'ops/s' || unit === 'acq/s') return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

/** Markdown table: one row per figure, one column per system, the zabkit / best-peer ratio and the issue's target. */
export function markdownTable(rows: Row[]): string {
  const out = ['| figure | unit | better | zabkit | zookeeper | etcd | zabkit / best peer | target |', '|---|---|---|--:|--:|--:|--:|---|'];
  for (const r of rows) {
    const x = ratio(r);
    const best = bestPeer(r);
    const l = leads(r);
    const ratioText = x === null ? '—' : `${x.toFixed(2)}x (vs ${best!.system}) ${l ? 'leads' : 'behind'}`;
    const def = FIGURES[r.figure];
    let target = '';
    if (def?.target) {
      const ok = r.zabkit === null ? null : def.target.ok(r.zabkit, r.zookeeper);
      target = `${def.target.text}: ${ok === null ? 'n/a' : ok ? 'met' : 'NOT met'}`;
    }
    out.push(`| ${r.figure} | ${r.unit} | ${r.better} | ${fmt(r.zabkit, r.unit)} | ${fmt(r.zookeeper, r.unit)} | ${fmt(r.etcd, r.unit)} | ${ratioText} | ${target} |`);
  }
  return out.join('\n');
}

const COLORS = { zabkit: '#2b7bb9', zookeeper: '#d9822b', etcd: '#3f9b5a' } as const;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A plain SVG: one group of three bars per figure, each group scaled to its own largest value. */
export function svgChart(rows: Row[], title: string): string {
  const labelW = 330;
  const barMax = 420;
  const barH = 9;
  const groupH = 3 * barH + 12;
  const top = 58;
  const width = labelW + barMax + 190;
  const height = top + rows.length * groupH + 20;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  let lx = 10;
  for (const [name, color] of Object.entries(COLORS)) {
    parts.push(`<rect x="${lx}" y="32" width="12" height="12" fill="${color}"/><text x="${lx + 16}" y="42">${name}</text>`);
    lx += 100;
  }
  parts.push(`<text x="${lx + 10}" y="42" fill="#555">bars scaled per row; ↑ higher is better, ↓ lower is better; — = skipped</text>`);
  rows.forEach((r, i) => {
    const y0 = top + i * groupH;
    if (i % 2 === 0) parts.push(`<rect x="0" y="${y0 - 4}" width="${width}" height="${groupH}" fill="#f4f6f8"/>`);
    const arrow = r.better === 'higher' ? '↑' : '↓';
    parts.push(`<text x="10" y="${y0 + groupH / 2}" dominant-baseline="middle">${esc(`${arrow} ${r.figure} (${r.unit})`)}</text>`);
    const max = Math.max(...(['zabkit', 'zookeeper', 'etcd'] as const).map((s) => r[s] ?? 0), 1e-9);
    (['zabkit', 'zookeeper', 'etcd'] as const).forEach((s, k) => {
      const v = r[s];
      const y = y0 + k * barH;
      const w = v === null ? 0 : Math.max(1, (v / max) * barMax);
      if (v !== null) parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 1}" fill="${COLORS[s]}"/>`);
      parts.push(`<text x="${labelW + w + 4}" y="${y + barH - 1.5}" font-size="9">${esc(fmt(v, r.unit))}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
