// The dashboard: today's requests, quota and tokens, the balance, the request rate, and the
// week's usage per model (`/api/user/dashboard`, one row per day and model) as a chart.

import { get } from './api.js';
import { session, quota, number } from './core.js';
import { h, mount } from './dom.js';
import { t } from './i18n.js';
import { stackedBars, meter } from './chart.js';

function day(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
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
  // The last 7 days, oldest first, including days without rows.
  const days = [];
  for (let i = 6; i >= 0; i--) days.push(day(new Date(Date.now() - i * 86400000)));
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
    h('section.card', h('div.card-head', h('h2', t('dash.week')), tabs), chartBox));
  draw();
}
