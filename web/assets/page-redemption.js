// Redemption codes (兑换码, admin): list with search and paging, create a batch (the new codes
// are shown once, with copy-all), edit name and quota, enable/disable, delete.
// API: `/api/redemption/` (GET list, POST create, PUT update / `?status_only=1`), DELETE `/api/redemption/{id}`.

import { get, put, del, call } from './api.js';
import { quota, quotaFromInput, quotaToInput } from './core.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, fmtTime, toast, copyText } from './dom.js';
import { t } from './i18n.js';

const state = { page: 1, size: 10, keyword: '' };

function statusPill(s) {
  return {
    1: pill(t('redeem.status1'), 'ok'),
    2: pill(t('redeem.status2'), 'off'),
    3: pill(t('redeem.status3'), 'info'),
  }[s] || pill(String(s), 'off');
}

/** The quota typed in the unit shown → raw quota, refusing what is not a number ≥ 0. */
function quotaValue(input) {
  const v = input.value.trim();
  if (v === '' || !Number.isFinite(Number(v)) || Number(v) < 0) throw new Error(t('redeem.bad_quota'));
  return quotaFromInput(v);
}

/** The codes just created, shown once with a copy-all button. */
function showCreated(keys) {
  const box = h('textarea.copy-box', { rows: Math.min(10, Math.max(2, keys.length)), readonly: true, dataset: { t: 'redeem-created' } }, keys.join('\n'));
  return dialog(t('redeem.created_n', { n: keys.length }), h('div',
    h('p.muted', t('redeem.created')),
    box,
    h('div.actions', h('button.btn.primary', { type: 'button', dataset: { t: 'redeem-copy-all' }, onclick: () => copyText(keys.join('\n')) }, t('redeem.copy_all')))),
  { submit: t('common.close') });
}

async function creator() {
  const name = h('input', { maxlength: 20, required: true, dataset: { t: 'redeem-name' } });
  const amount = h('input', { type: 'number', min: 0, step: 'any', value: quotaToInput(500000), dataset: { t: 'redeem-quota' } });
  const count = h('input', { type: 'number', min: 1, max: 100, step: 1, value: 1, dataset: { t: 'redeem-count' } });
  let keys = null;
  const ok = await dialog(t('redeem.create'), h('div.form-grid',
    field(t('redeem.name'), name, t('redeem.name_hint')),
    field(t('redeem.quota'), amount, t('redeem.quota_hint')),
    field(t('redeem.count'), count, t('redeem.count_hint'))), {
    onSubmit: async () => {
      const n = Number(count.value);
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error(t('redeem.bad_count'));
      // A failure part-way answers success:false with the keys made so far: show those too.
      const r = await call('POST', '/api/redemption/', { body: { name: name.value.trim(), quota: quotaValue(amount), count: n }, raw: true });
      if (r && Array.isArray(r.data) && r.data.length) keys = r.data;
      if (!r || r.success === false) {
        if (keys) {
          toast((r && r.message) || t('redeem.partial'), 'error');
          return true;
        }
        throw new Error((r && r.message) || 'HTTP error');
      }
      keys = keys || [];
      return true;
    },
  });
  if (ok && keys) await showCreated(keys);
  return ok;
}

async function editor(code) {
  const name = h('input', { value: code.name, maxlength: 20, required: true, dataset: { t: 'redeem-name' } });
  const amount = h('input', { type: 'number', min: 0, step: 'any', value: quotaToInput(code.quota), dataset: { t: 'redeem-quota' } });
  return dialog(t('redeem.edit'), h('div.form-grid',
    field(t('redeem.name'), name, t('redeem.name_hint')),
    field(t('redeem.quota'), amount, t('redeem.quota_hint'))), {
    onSubmit: async () => {
      await put('/api/redemption/', { id: code.id, name: name.value.trim(), quota: quotaValue(amount) });
      return true;
    },
  });
}

export async function render(el) {
  const listBox = h('div');
  const load = async () => {
    const data = await get('/api/redemption/', { page: state.page, size: state.size, keyword: state.keyword });
    const rows = data.data || [];
    const act = (fn) => async () => {
      try {
        if (await fn()) await load();
      } catch (e) { toast(e.message, 'error'); }
    };
    mount(listBox,
      table([
        ['ID', (r) => r.id],
        [t('redeem.name'), (r) => h('span', { dataset: { t: 'redeem-row-name' } }, r.name)],
        [t('redeem.key'), (r) => h('code.key', { dataset: { t: 'redeem-key' } }, r.key)],
        [t('common.status'), (r) => statusPill(r.status)],
        [t('redeem.quota'), (r) => quota(r.quota)],
        [t('common.created'), (r) => fmtTime(r.created_time)],
        [t('redeem.redeemed'), (r) => fmtTime(r.redeemed_time)],
        [t('common.actions'), (r) => h('div.row-actions',
          h('button.btn.small.primary', { dataset: { t: 'redeem-copy' }, onclick: () => copyText(r.key) }, t('common.copy')),
          r.status === 3 ? null : h('button.btn.small', {
            dataset: { t: 'redeem-toggle' },
            onclick: act(async () => {
              await put('/api/redemption/', { id: r.id, status: r.status === 1 ? 2 : 1 }, { status_only: 1 });
              toast(t('common.saved'));
              return true;
            }),
          }, r.status === 1 ? t('common.disable') : t('common.enable')),
          h('button.btn.small', {
            dataset: { t: 'redeem-edit' },
            onclick: act(async () => {
              if (!(await editor(r))) return false;
              toast(t('common.saved'));
              return true;
            }),
          }, t('common.edit')),
          h('button.btn.small.danger', {
            dataset: { t: 'redeem-delete' },
            onclick: act(async () => {
              if (!(await confirmAction(t('redeem.confirm_delete', { name: r.name, id: r.id })))) return false;
              await del(`/api/redemption/${r.id}`);
              toast(t('common.deleted'));
              return true;
            }),
          }, t('common.delete')))],
      ], rows, { rowAttrs: (r) => ({ dataset: { t: 'redeem-row', id: r.id } }) }),
      pager(data, (p) => { state.page = p; load().catch((e) => toast(e.message, 'error')); }));
  };
  const search = h('input.search', { type: 'search', placeholder: t('redeem.search'), value: state.keyword, dataset: { t: 'redeem-search' } });
  mount(el,
    h('div.toolbar',
      h('form.inline', { onsubmit: (e) => { e.preventDefault(); state.keyword = search.value.trim(); state.page = 1; load().catch((x) => toast(x.message, 'error')); } },
        search, h('button.btn', { type: 'submit', dataset: { t: 'redeem-search-go' } }, t('common.search'))),
      h('div.spacer'),
      h('button.btn.primary', {
        dataset: { t: 'redeem-new' },
        onclick: async () => {
          try {
            if (await creator()) { toast(t('common.created_ok')); state.page = 1; await load(); }
          } catch (e) { toast(e.message, 'error'); }
        },
      }, t('redeem.create'))),
    listBox);
  await load();
}
