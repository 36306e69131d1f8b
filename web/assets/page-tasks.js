// Midjourney (绘图) and async tasks (异步任务): the jobs a One Hub (Go) node of the fleet relays
// and records. Admins list every row (`/api/mj/`, `/api/task/`), users their own
// (`/api/mj/self`, `/api/task/self`, no channel). Filters, paging, status, progress, the fail
// reason, and result URLs as links (the console loads no remote picture).

import { get } from './api.js';
import { role, ROLE, quota } from './core.js';
import { h, svg, mount, table, pager, pill, dialog, field, select, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';

const TASK_STATUS = ['NOT_START', 'SUBMITTED', 'QUEUED', 'IN_PROGRESS', 'FAILURE', 'SUCCESS', 'UNKNOWN'];

function statusPill(s) {
  const kind = { SUCCESS: 'ok', FAILURE: 'bad', IN_PROGRESS: 'info', SUBMITTED: 'info', QUEUED: 'info', MODAL: 'warn', NOT_START: 'off' }[s] || 'off';
  const key = `task.st_${String(s || 'UNKNOWN').toLowerCase()}`;
  return h('span', { dataset: { t: 'task-status' } }, pill(t(key) === key ? String(s || '—') : t(key), kind));
}

/** A plain bar (the chart meter turns red near full, which a progress or a share is not). */
function bar(fraction, label) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  return svg('svg', { viewBox: '0 0 100 8', class: 'meter', role: 'img', 'aria-label': label },
    svg('rect', { width: 100, height: 8, rx: 4, class: 'meter-bg' }),
    svg('rect', { width: 100 * f, height: 8, rx: 4, class: 'meter-fg' }));
}

/** A progress figure ("45%" or 45) as a small bar with its text. */
function progress(p) {
  const n = Math.max(0, Math.min(100, parseFloat(String(p ?? '').replace('%', '')) || 0));
  return h('span.progress', { title: `${n}%` }, bar(n / 100, `${n}%`), h('small', `${n}%`));
}

/** An external result: a link opened in a new tab, never loaded by the page. */
function link(url, label) {
  if (!url || !/^https?:\/\//i.test(url)) return url ? String(url) : '—';
  return h('a.ext', { href: url, target: '_blank', rel: 'noopener noreferrer', title: url, dataset: { t: 'task-link' } }, label || t('task.open'));
}

/** Every http(s) URL in a task's result JSON, with the key it was found under. */
function urlsIn(v, key = '', out = []) {
  if (typeof v === 'string') {
    if (/^https?:\/\//i.test(v)) out.push([key, v]);
  } else if (Array.isArray(v)) {
    v.forEach((x) => urlsIn(x, key, out));
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) urlsIn(x, k, out);
  }
  return out;
}

/** Seconds (tasks) or milliseconds (Midjourney) → local time. */
function when(v, ms) {
  return fmtTime(ms ? Math.floor((v || 0) / 1000) : v);
}

function toTs(v, ms) {
  if (!v) return '';
  const n = Date.parse(v);
  if (Number.isNaN(n)) return '';
  return ms ? n : Math.floor(n / 1000);
}

function failText(r) {
  return r.fail_reason ? h('span.error-text', { title: r.fail_reason, dataset: { t: 'task-fail' } }, r.fail_reason.length > 40 ? `${r.fail_reason.slice(0, 40)}…` : r.fail_reason) : '';
}

function details(title, rows, extra) {
  return dialog(title, h('div',
    h('dl.details', rows.map(([k, v]) => [h('dt', k), h('dd', v === '' || v === undefined || v === null ? '—' : v)])),
    extra || null), { submit: t('common.close'), wide: true });
}

/** A list page: filter form, table, pager. */
async function listPage(el, { base, self, inputs, labels, params, columns, rowKey, searchKey }) {
  const state = { page: 1, size: 20 };
  const listBox = h('div');
  const load = async () => {
    const data = await get(base, { ...params(), page: state.page, size: state.size });
    mount(listBox, table(columns, data.data || [], { rowAttrs: () => ({ dataset: { t: rowKey } }) }),
      pager(data, (p) => { state.page = p; load().catch((e) => toast(e.message, 'error')); }));
  };
  const form = h('form.filters', {
    onsubmit: (e) => {
      e.preventDefault();
      state.page = 1;
      load().catch((x) => toast(x.message, 'error'));
    },
  }, Object.entries(inputs).map(([k, i]) => field(t(labels[k]), i)),
  h('button.btn.primary', { type: 'submit', dataset: { t: searchKey } }, t('common.search')));
  mount(el, self ? null : h('p.muted', t('task.admin_hint')), form, listBox);
  await load();
}

export const midjourney = {
  async render(el) {
    const admin = role() >= ROLE.admin;
    const inputs = {
      mj_id: h('input', { dataset: { t: 'mj-filter-id' } }),
      start: h('input', { type: 'datetime-local' }),
      end: h('input', { type: 'datetime-local' }),
    };
    if (admin) inputs.channel_id = h('input', { type: 'number', min: 0, dataset: { t: 'mj-filter-channel' } });
    else inputs.token_id = h('input', { type: 'number', min: 0 });
    const cols = [
      [t('task.submitted'), (r) => when(r.submit_time, true)],
      [t('task.mj_id'), (r) => h('code', { dataset: { t: 'mj-id' } }, r.mj_id)],
    ];
    if (admin) cols.push([t('log.user'), (r) => r.user_id], [t('log.channel'), (r) => (r.channel_id ? `#${r.channel_id}` : '—')]);
    cols.push(
      [t('task.action'), (r) => r.action + (r.mode ? ` · ${r.mode}` : '')],
      [t('common.status'), (r) => statusPill(r.status)],
      [t('task.progress'), (r) => progress(r.progress)],
      [t('task.image'), (r) => link(r.image_url, t('task.view_image'))],
      [t('task.fail_reason'), failText],
      [t('log.quota'), (r) => quota(r.quota, 4)],
      ['', (r) => h('button.btn.small', {
        dataset: { t: 'mj-details' },
        onclick: () => details(t('task.mj_details'), [
          [t('task.mj_id'), r.mj_id],
          [t('task.action'), r.action],
          [t('task.mode'), r.mode],
          [t('common.status'), statusPill(r.status)],
          [t('task.progress'), r.progress],
          [t('task.submitted'), when(r.submit_time, true)],
          [t('task.started'), when(r.start_time, true)],
          [t('task.finished'), when(r.finish_time, true)],
          [t('task.prompt'), r.prompt],
          [t('task.prompt_en'), r.prompt_en],
          [t('task.description'), r.description],
          [t('task.image'), link(r.image_url, r.image_url)],
          [t('task.fail_reason'), r.fail_reason],
          [t('log.quota'), quota(r.quota, 6)],
        ]),
      }, t('log.details'))],
    );
    await listPage(el, {
      base: admin ? '/api/mj/' : '/api/mj/self',
      self: !admin,
      inputs,
      labels: { mj_id: 'task.mj_id', start: 'log.start', end: 'log.end', channel_id: 'log.channel', token_id: 'task.token_id' },
      params: () => ({
        mj_id: inputs.mj_id.value.trim(),
        channel_id: admin ? inputs.channel_id.value : undefined,
        token_id: admin ? undefined : inputs.token_id.value,
        // One Hub's relay records Midjourney times in milliseconds.
        start_timestamp: toTs(inputs.start.value, true),
        end_timestamp: toTs(inputs.end.value, true),
      }),
      columns: cols,
      rowKey: 'mj-row',
      searchKey: 'mj-search',
    });
  },
};

export const task = {
  async render(el) {
    const admin = role() >= ROLE.admin;
    const inputs = {
      platform: select([['', t('task.all_platforms')], ['suno', 'Suno'], ['kling', 'Kling']], '', { dataset: { t: 'task-filter-platform' } }),
      task_id: h('input', { dataset: { t: 'task-filter-id' } }),
      status: select([['', t('task.all_status')], ...TASK_STATUS.map((s) => [s, t(`task.st_${s.toLowerCase()}`)])], ''),
      action: h('input', { placeholder: 'MUSIC' }),
      start: h('input', { type: 'datetime-local' }),
      end: h('input', { type: 'datetime-local' }),
    };
    if (admin) {
      inputs.channel_id = h('input', { type: 'number', min: 0, dataset: { t: 'task-filter-channel' } });
      inputs.user_id = h('input', { type: 'number', min: 0 });
    }
    const cols = [
      [t('task.submitted'), (r) => when(r.submit_time, false)],
      [t('task.task_id'), (r) => h('code', { dataset: { t: 'task-id' } }, r.task_id)],
      [t('task.platform'), (r) => r.platform],
    ];
    if (admin) cols.push([t('log.user'), (r) => r.user_id], [t('log.channel'), (r) => (r.channel_id ? `#${r.channel_id}` : '—')]);
    cols.push(
      [t('task.action'), (r) => r.action],
      [t('common.status'), (r) => statusPill(r.status)],
      [t('task.progress'), (r) => progress(r.progress)],
      [t('task.result'), (r) => {
        const urls = urlsIn(r.data);
        return urls.length ? h('span.row-actions', urls.slice(0, 3).map(([k, u]) => link(u, k || t('task.open')))) : '—';
      }],
      [t('task.fail_reason'), failText],
      [t('log.quota'), (r) => quota(r.quota, 4)],
      ['', (r) => h('button.btn.small', {
        dataset: { t: 'task-details' },
        onclick: () => details(t('task.task_details'), [
          [t('task.task_id'), r.task_id],
          [t('task.platform'), r.platform],
          [t('task.action'), r.action],
          [t('common.status'), statusPill(r.status)],
          [t('task.progress'), `${r.progress || 0}%`],
          [t('task.submitted'), when(r.submit_time, false)],
          [t('task.started'), when(r.start_time, false)],
          [t('task.finished'), when(r.finish_time, false)],
          [t('task.fail_reason'), r.fail_reason],
          [t('log.quota'), quota(r.quota, 6)],
          [t('task.result'), urlsIn(r.data).map(([k, u]) => h('div', link(u, `${k}: ${u}`)))],
        ], r.data ? h('pre.meta', JSON.stringify(r.data, null, 2)) : null),
      }, t('log.details'))],
    );
    await listPage(el, {
      base: admin ? '/api/task/' : '/api/task/self',
      self: !admin,
      inputs,
      labels: { platform: 'task.platform', task_id: 'task.task_id', status: 'common.status', action: 'task.action', start: 'log.start', end: 'log.end', channel_id: 'log.channel', user_id: 'task.user_id' },
      params: () => ({
        platform: inputs.platform.value,
        task_id: inputs.task_id.value.trim(),
        status: inputs.status.value,
        action: inputs.action.value.trim(),
        channel_id: admin ? inputs.channel_id.value : undefined,
        user_id: admin ? inputs.user_id.value : undefined,
        start_timestamp: toTs(inputs.start.value, false),
        end_timestamp: toTs(inputs.end.value, false),
      }),
      columns: cols,
      rowKey: 'task-row',
      searchKey: 'task-search',
    });
  },
};

