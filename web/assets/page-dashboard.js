// The dashboard: today's requests, quota and tokens, the balance, the request rate, and the
// week's usage per model (`/api/user/dashboard`, one row per day and model) as a chart.

import { get } from './api.js';
import { session, quota, number, nodeDay } from './core.js';
import { h, svg, mount } from './dom.js';
import { t } from './i18n.js';
import { stackedBars, meter } from './chart.js';

/** A half-circle gauge of the quota left (share of used + left), as SVG. */
function gauge(left, used) {
  const total = left + used;
  const f = total > 0 ? Math.max(0, Math.min(1, left / total)) : 0;
  const r = 80, cx = 100, cy = 96;
  const point = (a) => [cx - r * Math.cos(a), cy - r * Math.sin(a)];
  const [x0, y0] = point(0);
  const [x1, y1] = point(Math.PI);
  const [xf, yf] = point(Math.PI * f);
  const kind = f < 0.1 ? '.bad' : f < 0.3 ? '.warn' : '';
  return svg('svg', { viewBox: '0 0 200 116', class: 'gauge', role: 'img', 'aria-label': `${t('dash.left_share')}: ${(f * 100).toFixed(0)}%` },
    svg('path', { d: `M ${x0} ${y0} A ${r} ${r} 0 0 1 ${x1} ${y1}`, class: 'gauge-bg' }),
    f > 0 ? svg('path', { d: `M ${x0} ${y0} A ${r} ${r} 0 0 1 ${xf.toFixed(2)} ${yf.toFixed(2)}`, class: `gauge-fg${kind.replace('.', ' ')}` }) : null,
    svg('text', { x: cx, y: cy - 8, 'text-anchor': 'middle' }, `${(f * 100).toFixed(0)}%`));
}

function card(label, value, key, extra) {
  return h('div.stat', { dataset: { t: `stat-${key}` } }, h('span.stat-label', label), h('strong.stat-value', value), extra || null);
}

export async function render(el) {
  const [rows, rate, me] = await Promise.all([
    get('/api/user/dashboard'),
    get('/api/user/dashboard/rate').catch(() => null),
    get('/api/user/self'),
  ]);
  session.user = me;
  const data = rows || [];
  // The last 7 days of the node's calendar, oldest first, including days without rows.
  const days = [];
  for (let i = 6; i >= 0; i--) days.push(nodeDay(Date.now() - i * 86400000));
  const today = days[days.length - 1];
  const todays = data.filter((r) => r.Date === today);
  const sum = (rs, k) => rs.reduce((s, r) => s + (r[k] || 0), 0);
  const used = me.used_quota || 0;
  const left = me.quota || 0;
  const metric = { value: 'Quota' };
  const chartBox = h('div');
  const models = [...new Set(data.map((r) => r.ModelName))];
  const draw = () => {
    const k = metric.value;
    const fmt = k === 'Quota' ? (v) => quota(v) : (v) => number(Math.round(v));
    const series = models.map((m) => ({
      name: m,
      values: days.map((d) => data.filter((r) => r.Date === d && r.ModelName === m)
        .reduce((s, r) => s + (k === 'Tokens' ? (r.PromptTokens || 0) + (r.CompletionTokens || 0) : r[k] || 0), 0)),
    }));
    mount(chartBox, models.length
      ? stackedBars({ labels: days.map((d) => d.slice(5)), series, fmt, other: t('dash.other'), title: t('dash.week') })
      : h('p.empty', t('dash.no_usage')));
  };
  const tabs = h('div.tabs', [['Quota', 'dash.quota'], ['RequestCount', 'dash.requests'], ['Tokens', 'dash.tokens']].map(([k, label]) =>
    h('button.tab' + (k === metric.value ? '.active' : ''), {
      type: 'button',
      dataset: { t: `metric-${k}` },
      onclick: (e) => {
        metric.value = k;
        e.target.parentNode.querySelectorAll('.tab').forEach((b) => b.classList.toggle('active', b === e.target));
        draw();
      },
    }, t(label))));
  mount(el,
    h('div.stats',
      card(t('dash.today_requests'), number(sum(todays, 'RequestCount')), 'requests'),
      card(t('dash.today_quota'), quota(sum(todays, 'Quota')), 'quota'),
      card(t('dash.today_tokens'), number(sum(todays, 'PromptTokens') + sum(todays, 'CompletionTokens')), 'tokens'),
      card(t('dash.balance'), quota(left), 'balance', meter(used + left > 0 ? used / (used + left) : 0, t('dash.used_share'))),
      card(t('dash.used'), quota(used), 'used'),
      card(t('dash.rpm'), rate && rate.maxRPM ? `${rate.rpm} / ${rate.maxRPM}` : String(rate ? rate.rpm : 0), 'rpm')),
    h('section.card', { dataset: { t: 'quota-gauge' } }, h('h2', t('dash.quota_left')), h('div.gauge-box',
      gauge(left, used),
      h('dl.gauge-facts',
        h('dt', t('dash.balance')), h('dd', quota(left)),
        h('dt', t('dash.used')), h('dd', quota(used)),
        h('dt', t('dash.left_share')), h('dd', used + left > 0 ? `${((left / (used + left)) * 100).toFixed(1)}%` : '—')))),
    h('section.card', h('div.card-head', h('h2', t('dash.week')), tabs), chartBox));
  draw();
}
