// Logs (日志): filters, the totals of the filter (`/api/log/stat`, `/api/log/self/stat`), the
// use per model over the filter's days (from the statistics rollup: `/api/analytics/period` for
// admins, `/api/user/dashboard` for users), and each entry's details. Admins see everyone's logs
// (`/api/log/`), users their own (`/api/log/self`).

import { get } from './api.js';
import { role, ROLE, quota, number, nodeDay } from './core.js';
import { h, svg, mount, table, pager, pill, dialog, field, select, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';
import { color } from './chart.js';

const state = { page: 1, size: 20, log_type: '', model_name: '', token_name: '', username: '', channel_id: '', start: '', end: '' };

function typePill(k) {
  return { 1: pill(t('log.type1'), 'ok'), 2: pill(t('log.type2'), 'info'), 3: pill(t('log.type3'), 'warn'), 4: pill(t('log.type4'), 'off') }[k] || pill(String(k), 'off');
}

function ts(v) {
  if (!v) return '';
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? '' : Math.floor(ms / 1000);
}

/** A plain bar (the chart meter turns red near full, which a progress or a share is not). */
function bar(fraction, label) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  return svg('svg', { viewBox: '0 0 100 8', class: 'meter', role: 'img', 'aria-label': label },
    svg('rect', { width: 100, height: 8, rx: 4, class: 'meter-bg' }),
    svg('rect', { width: 100 * f, height: 8, rx: 4, class: 'meter-fg' }));
}

/** A Date's day in the node's calendar (the statistics' days). */
function dayText(d) {
  return nodeDay(d.getTime());
}

/**
 * Per-model sums over the filter's days (the last 7 when no start is given), from the daily
 * statistics: admins read the analytics rollup per model (`/api/analytics/period`, for one user
 * when the filter names one), users their own dashboard rows (`/api/user/dashboard`, the last 8
 * days). The model filter applies; the token and channel filters cannot (the rollup has no such
 * split), which the page says. Rows: {model, requests, prompt, completion, quota}, most quota first.
 */
async function perModel(admin, p) {
  const now = Math.floor(Date.now() / 1000);
  const end = p.end_timestamp || now;
  let start = p.start_timestamp || end - 6 * 86400;
  let rows;
  let user = '';
  if (admin) {
    const q = { start_timestamp: start, end_timestamp: end, group_type: 'model' };
    if (p.username) {
      const found = await get('/api/user/', { keyword: p.username, size: 100 });
      const u = (found.data || []).find((x) => x.username === p.username);
      if (!u) return { from: dayText(new Date(start * 1000)), to: dayText(new Date(end * 1000)), models: [], user: p.username };
      q.user_id = u.id;
      user = u.username;
    }
    const data = await get('/api/analytics/period', q);
    rows = (data.channel_statistics || []).map((r) => ({ ...r, model: String(r.Channel) }));
  } else {
    start = Math.max(start, now - 7 * 86400);
    const from = dayText(new Date(start * 1000));
    const to = dayText(new Date(end * 1000));
    rows = ((await get('/api/user/dashboard')) || []).filter((r) => r.Date >= from && r.Date <= to).map((r) => ({ ...r, model: r.ModelName }));
  }
  const want = (p.model_name || '').toLowerCase();
  const by = new Map();
  for (const r of rows) {
    if (want && !r.model.toLowerCase().includes(want)) continue;
    const m = by.get(r.model) || { model: r.model, requests: 0, prompt: 0, completion: 0, quota: 0 };
    m.requests += r.RequestCount || 0;
    m.prompt += r.PromptTokens || 0;
    m.completion += r.CompletionTokens || 0;
    m.quota += r.Quota || 0;
    by.set(r.model, m);
  }
  return {
    from: dayText(new Date(start * 1000)),
    to: dayText(new Date(end * 1000)),
    user,
    unsplit: Boolean(p.token_name || p.channel_id),
    models: [...by.values()].sort((a, b) => b.quota - a.quota || b.requests - a.requests),
  };
}

function statCard(label, value, key) {
  return h('div.stat', { dataset: { t: `log-stat-${key}` } }, h('span.stat-label', label), h('strong.stat-value', value));
}

function statsView(stat, per, total) {
  const models = per ? per.models : [];
  const sum = (k) => models.reduce((s, m) => s + m[k], 0);
  const maxQuota = Math.max(0, ...models.map((m) => m.quota));
  const maxReq = Math.max(0, ...models.map((m) => m.requests));
  const cards = [
    h('div.stat', { dataset: { t: 'log-stat-quota' } }, h('span.stat-label', t('logstat.quota')), total),
    statCard(t('logstat.requests'), per ? number(sum('requests')) : '—', 'requests'),
    statCard(t('logstat.tokens'), per ? number(sum('prompt') + sum('completion')) : '—', 'tokens'),
  ];
  if (stat && stat.rpm !== undefined) cards.push(statCard('RPM', number(stat.rpm), 'rpm'));
  if (stat && stat.tpm !== undefined) cards.push(statCard('TPM', number(stat.tpm), 'tpm'));
  return [
    h('div.stats', cards),
    per ? h('section.card', { dataset: { t: 'log-per-model' } },
      h('div.card-head', h('h2', t('logstat.per_model')), h('small.hint', t('logstat.per_model_hint', { from: per.from, to: per.to }),
        per.user ? ` · ${t('logstat.for_user', { user: per.user })}` : '',
        per.unsplit ? ` · ${t('logstat.unsplit')}` : '')),
      table([
        [t('log.model'), (m) => h('span.row-actions', svg('svg', { width: 10, height: 10, class: 'swatch' }, svg('rect', { width: 10, height: 10, rx: 2, fill: color(models.indexOf(m)) })), h('span', { dataset: { t: 'log-model-name' } }, m.model))],
        [t('logstat.requests'), (m) => h('span.bar-cell', bar(maxReq ? m.requests / maxReq : 0, String(m.requests)), h('span', { dataset: { t: 'log-model-requests' } }, number(m.requests)))],
        [t('log.prompt'), (m) => number(m.prompt)],
        [t('log.completion'), (m) => number(m.completion)],
        [t('log.quota'), (m) => h('span.bar-cell', bar(maxQuota ? m.quota / maxQuota : 0, quota(m.quota)), h('span', { dataset: { t: 'log-model-quota' } }, quota(m.quota, 4)))],
        [t('logstat.share'), (m) => (sum('quota') ? `${((m.quota / sum('quota')) * 100).toFixed(1)}%` : '—')],
      ], models, { empty: t('dash.no_usage'), rowAttrs: () => ({ dataset: { t: 'log-model-row' } }) })) : null,
  ];
}

function details(r) {
  const rows = [
    [t('log.time'), fmtTime(r.created_at)],
    [t('log.type'), typePill(r.type)],
    [t('log.user'), r.username],
    [t('log.token'), r.token_name],
    [t('log.model'), r.model_name],
    [t('log.channel'), r.channel ? `#${r.channel.id} ${r.channel.name}` : r.channel_id || '—'],
    [t('log.prompt'), r.prompt_tokens],
    [t('log.completion'), r.completion_tokens],
    [t('log.quota'), quota(r.quota, 6)],
    [t('log.duration'), `${(r.request_time / 1000).toFixed(2)} s`],
    [t('log.stream'), r.is_stream ? t('common.yes') : t('common.no')],
    [t('log.ip'), r.source_ip || '—'],
    [t('log.content'), r.content],
  ];
  const meta = r.metadata && typeof r.metadata === 'object' && Object.keys(r.metadata).length ? JSON.stringify(r.metadata, null, 2) : '';
  return dialog(t('log.details'), h('div',
    h('dl.details', rows.map(([k, v]) => [h('dt', k), h('dd', v === '' || v === undefined ? '—' : v)])),
    meta ? h('pre.meta', meta) : null), { submit: t('common.close') });
}

export async function render(el) {
  const admin = role() >= ROLE.admin;
  const base = admin ? '/api/log/' : '/api/log/self';
  const statPath = admin ? '/api/log/stat' : '/api/log/self/stat';
  const listBox = h('div');
  const total = h('strong.stat-value', { dataset: { t: 'log-total' } }, '…');
  const statBox = h('div');
  const params = () => {
    const p = {
      log_type: state.log_type, model_name: state.model_name, token_name: state.token_name,
      start_timestamp: ts(state.start), end_timestamp: ts(state.end),
    };
    if (admin) Object.assign(p, { username: state.username, channel_id: state.channel_id });
    return p;
  };
  const load = async () => {
    const p = params();
    const [data, stat, per] = await Promise.all([
      get(base, { ...p, page: state.page, size: state.size }),
      get(statPath, { start_timestamp: p.start_timestamp, end_timestamp: p.end_timestamp, token_name: p.token_name, model_name: p.model_name, username: p.username, channel: p.channel_id }).catch(() => null),
      perModel(admin, p).catch(() => null),
    ]);
    total.textContent = stat ? quota(stat.quota) : '—';
    mount(statBox, statsView(stat, per, total));
    const rows = data.data || [];
    const cols = [
      [t('log.time'), (r) => fmtTime(r.created_at)],
      [t('log.type'), (r) => typePill(r.type)],
    ];
    if (admin) cols.push([t('log.user'), (r) => r.username], [t('log.channel'), (r) => (r.channel ? `#${r.channel.id}` : r.channel_id || '')]);
    cols.push(
      [t('log.token'), (r) => r.token_name],
      [t('log.model'), (r) => h('span', { dataset: { t: 'log-model' } }, r.model_name)],
      [t('log.tokens'), (r) => (r.type === 2 ? `${r.prompt_tokens} / ${r.completion_tokens}` : '')],
      [t('log.quota'), (r) => (r.type === 2 || r.type === 1 ? quota(r.quota, 6) : '')],
      [t('log.duration'), (r) => (r.request_time ? `${(r.request_time / 1000).toFixed(2)} s` : '')],
      ['', (r) => h('button.btn.small', { dataset: { t: 'log-details' }, onclick: () => details(r) }, t('log.details'))],
    );
    mount(listBox, table(cols, rows, { rowAttrs: () => ({ dataset: { t: 'log-row' } }) }),
      pager(data, (p) => { state.page = p; load().catch((e) => toast(e.message, 'error')); }));
  };
  const inputs = {
    log_type: select([['', t('log.all_types')], [1, t('log.type1')], [2, t('log.type2')], [3, t('log.type3')], [4, t('log.type4')]], state.log_type),
    model_name: h('input', { value: state.model_name, placeholder: 'gpt-4o-mini', dataset: { t: 'log-filter-model' } }),
    token_name: h('input', { value: state.token_name }),
    start: h('input', { type: 'datetime-local', value: state.start }),
    end: h('input', { type: 'datetime-local', value: state.end }),
  };
  if (admin) {
    inputs.username = h('input', { value: state.username, dataset: { t: 'log-filter-user' } });
    inputs.channel_id = h('input', { type: 'number', min: 0, value: state.channel_id });
  }
  const labels = { log_type: 'log.type', model_name: 'log.model', token_name: 'log.token', start: 'log.start', end: 'log.end', username: 'log.user', channel_id: 'log.channel' };
  const form = h('form.filters', {
    onsubmit: (e) => {
      e.preventDefault();
      for (const [k, i] of Object.entries(inputs)) state[k] = i.value.trim();
      state.page = 1;
      load().catch((x) => toast(x.message, 'error'));
    },
  }, Object.entries(inputs).map(([k, i]) => field(t(labels[k]), i)), h('button.btn.primary', { type: 'submit', dataset: { t: 'log-search' } }, t('common.search')));
  mount(el, form, statBox, listBox);
  await load();
}
