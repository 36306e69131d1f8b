// Logs (日志): filters, the total quota of the filter, and each entry's details. Admins see
// everyone's logs (`/api/log/`), users their own (`/api/log/self`).

import { get } from './api.js';
import { session, role, ROLE, quota } from './core.js';
import { h, mount, table, pager, pill, dialog, field, select, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';

const state = { page: 1, size: 20, log_type: '', model_name: '', token_name: '', username: '', channel_id: '', start: '', end: '' };

function typePill(k) {
  return { 1: pill(t('log.type1'), 'ok'), 2: pill(t('log.type2'), 'info'), 3: pill(t('log.type3'), 'warn'), 4: pill(t('log.type4'), 'off') }[k] || pill(String(k), 'off');
}

function ts(v) {
  if (!v) return '';
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? '' : Math.floor(ms / 1000);
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
  const total = h('strong', { dataset: { t: 'log-total' } }, '…');
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
    const [data, stat] = await Promise.all([
      get(base, { ...p, page: state.page, size: state.size }),
      get(statPath, { start_timestamp: p.start_timestamp, end_timestamp: p.end_timestamp, token_name: p.token_name, model_name: p.model_name, username: p.username, channel: p.channel_id }).catch(() => null),
    ]);
    total.textContent = stat ? quota(stat.quota) : '—';
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
    model_name: h('input', { value: state.model_name, placeholder: 'gpt-4o-mini' }),
    token_name: h('input', { value: state.token_name }),
    start: h('input', { type: 'datetime-local', value: state.start }),
    end: h('input', { type: 'datetime-local', value: state.end }),
  };
  if (admin) {
    inputs.username = h('input', { value: state.username });
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
  mount(el, form, h('p.summary', t('log.total_quota'), ' ', total, session.user ? null : null), listBox);
  await load();
}
