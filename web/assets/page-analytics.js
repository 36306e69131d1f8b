// Analytics (分析, admin): usage and cost per day over a period, per channel, model or model
// owner (`/api/analytics/period`, read from the statistics rollup), as SVG charts.

import { get } from './api.js';
import { quota, number, nodeDay, nodeDayStart } from './core.js';
import { h, mount, select, toast } from './dom.js';
import { t } from './i18n.js';
import { stackedBars } from './chart.js';

const state = { days: 7, group: 'channel' };

/** A Date's day in the node's calendar (the statistics' days). */
function dayText(d) {
  return nodeDay(d.getTime());
}

export async function render(el) {
  const box = h('div');
  const draw = async () => {
    const end = new Date();
    const start = new Date(nodeDayStart(end.getTime() - (state.days - 1) * 86400000));
    const data = await get('/api/analytics/period', {
      start_timestamp: Math.floor(start.getTime() / 1000),
      end_timestamp: Math.floor(end.getTime() / 1000),
      group_type: state.group,
    });
    const rows = data.channel_statistics || [];
    const days = [];
    for (let d = new Date(start); d <= end; d = new Date(d.getTime() + 86400000)) days.push(dayText(d));
    const labels = [...new Set(rows.map((r) => String(r.Channel)))];
    const series = (k) => labels.map((l) => ({
      name: l,
      values: days.map((d) => rows.filter((r) => r.Date === d && String(r.Channel) === l).reduce((s, r) => s + (r[k] || 0), 0)),
    }));
    const total = (k) => rows.reduce((s, r) => s + (r[k] || 0), 0);
    mount(box,
      h('div.stats',
        h('div.stat', { dataset: { t: 'analytics-requests' } }, h('span.stat-label', t('dash.requests')), h('strong.stat-value', number(total('RequestCount')))),
        h('div.stat', h('span.stat-label', t('dash.quota')), h('strong.stat-value', quota(total('Quota')))),
        h('div.stat', h('span.stat-label', t('dash.tokens')), h('strong.stat-value', number(total('PromptTokens') + total('CompletionTokens'))))),
      rows.length ? [
        h('section.card', h('h2', t('analytics.cost')), stackedBars({ labels: days.map((d) => d.slice(5)), series: series('Quota'), fmt: (v) => quota(v), other: t('dash.other'), title: t('analytics.cost') })),
        h('section.card', h('h2', t('analytics.requests')), stackedBars({ labels: days.map((d) => d.slice(5)), series: series('RequestCount'), fmt: (v) => number(Math.round(v)), other: t('dash.other'), title: t('analytics.requests') })),
      ] : h('p.empty', t('dash.no_usage')));
  };
  const days = select([[7, t('analytics.days7')], [30, t('analytics.days30')], [90, t('analytics.days90')]], state.days);
  const group = select([['channel', t('analytics.by_channel')], ['model', t('analytics.by_model')], ['model_type', t('analytics.by_owner')]], state.group);
  const change = () => {
    state.days = Number(days.value);
    state.group = group.value;
    draw().catch((e) => toast(e.message, 'error'));
  };
  days.addEventListener('change', change);
  group.addEventListener('change', change);
  mount(el, h('div.toolbar', days, group), box);
  await draw();
}
