// Charts drawn as SVG by hand: a stacked bar chart (one bar per day, one colour per series)
// with axis, grid, legend and a native tooltip per segment.

import { h, svg } from './dom.js';

const COLORS = ['#2f5bea', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#475569'];

export function color(i) {
  return COLORS[i % COLORS.length];
}

/** A "nice" upper bound for an axis. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * labels: x labels (days); series: [{name, values}] (same length as labels); fmt: value → text.
 * Series beyond `maxSeries` are summed into one "other" series.
 */
export function stackedBars({ labels, series, fmt = String, other = 'other', maxSeries = 8, title = '' }) {
  const sorted = [...series].sort((a, b) => sum(b.values) - sum(a.values));
  let shown = sorted.slice(0, maxSeries);
  if (sorted.length > maxSeries) {
    const rest = sorted.slice(maxSeries);
    shown = [...shown, { name: other, values: labels.map((_, i) => rest.reduce((s, r) => s + r.values[i], 0)) }];
  }
  const W = 720, H = 260, L = 64, R = 12, T = 12, B = 34;
  const totals = labels.map((_, i) => shown.reduce((s, r) => s + (r.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const bw = (W - L - R) / Math.max(1, labels.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => svg('g', {},
    svg('line', { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: 'grid' }),
    svg('text', { x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(max * f))));
  const bars = labels.map((label, i) => {
    let acc = 0;
    const segs = shown.map((s, k) => {
      const v = s.values[i] || 0;
      if (v <= 0) return null;
      const top = y(acc + v), bottom = y(acc);
      acc += v;
      return svg('rect', { x: L + i * bw + bw * 0.18, y: top, width: bw * 0.64, height: Math.max(0.5, bottom - top), fill: color(k) },
        svg('title', {}, `${label} · ${s.name}: ${fmt(v)}`));
    });
    return svg('g', {}, segs,
      svg('text', { x: L + i * bw + bw / 2, y: H - B + 18, 'text-anchor': 'middle', class: 'axis' }, label));
  });
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title },
    svg('title', {}, title), grid, bars);
  const legend = h('ul.legend', shown.map((s, k) =>
    h('li', svg('svg', { width: 10, height: 10, class: 'swatch' }, svg('rect', { width: 10, height: 10, rx: 2, fill: color(k) })), `${s.name} · ${fmt(sum(s.values))}`)));
  return h('figure.chart-box', chart, shown.length ? legend : null);
}

/** A small horizontal meter: used / total, as SVG. */
export function meter(fraction, label) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  return svg('svg', { viewBox: '0 0 100 8', class: 'meter', role: 'img', 'aria-label': label },
    svg('rect', { width: 100, height: 8, rx: 4, class: 'meter-bg' }),
    svg('rect', { width: 100 * f, height: 8, rx: 4, class: f > 0.9 ? 'meter-fg warn' : 'meter-fg' }));
}

function sum(a) {
  return a.reduce((s, v) => s + (v || 0), 0);
}
