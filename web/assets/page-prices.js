// Prices (模型价格, admin): the price table with search, add, edit (a model may be renamed),
// lock, delete, reset to One Hub's built-in list (confirmed), and sync from the price-list service
// (`UPDATE_PRICE_SERVICE`, fetched by the browser as One Hub's UI does — the node's CSP allows
// that one origin — summarised, then posted to `/api/prices/sync` in the mode chosen). `input`/`output` are One
// Hub's ratios (1 = US$0.002 per 1K tokens for `tokens`, per call for `times`).

import { get, post, put, del } from './api.js';
import { h, mount, table, dialog, confirmAction, field, select, toast } from './dom.js';
import { t } from './i18n.js';
import { TYPES, typeName } from './channel-types.js';

const state = { keyword: '' };

/** US$ per 1M tokens (or per call) of a ratio. */
function usd(ratio, kind) {
  const v = kind === 'times' ? ratio * 0.002 : ratio * 2;
  return `$${+v.toFixed(4)}`;
}

async function editor(price) {
  const p = price || { model: '', type: 'tokens', channel_type: 1, input: 0, output: 0, locked: false };
  const model = h('input', { value: p.model, required: true, dataset: { t: 'price-model' } });
  const kind = select([['tokens', t('price.tokens')], ['times', t('price.times')]], p.type);
  const owner = select(TYPES.map(([v, n]) => [v, n]), p.channel_type);
  const input = h('input', { type: 'number', step: 'any', min: 0, value: p.input, dataset: { t: 'price-input' } });
  const output = h('input', { type: 'number', step: 'any', min: 0, value: p.output, dataset: { t: 'price-output' } });
  const locked = h('input', { type: 'checkbox', checked: p.locked });
  return dialog(price ? t('price.edit') : t('price.create'), h('div.form-grid',
    field(t('price.model'), model),
    field(t('price.type'), kind),
    field(t('price.owner'), owner),
    field(t('price.input'), input, t('price.ratio_hint')),
    field(t('price.output'), output),
    h('label.check', locked, t('price.locked_hint'))), {
    onSubmit: async () => {
      const body = { model: model.value.trim(), type: kind.value, channel_type: Number(owner.value), input: Number(input.value), output: Number(output.value), locked: locked.checked };
      if (!(body.input >= 0 && body.output >= 0)) throw new Error(t('price.bad_number'));
      if (price) await put(`/api/prices/single/${encodeURIComponent(price.model)}`, { ...price, ...body });
      else await post('/api/prices/single', body);
      return true;
    },
  });
}

/** The list at the price service: a bare array or One Hub's `{data: [...]}`. */
async function fetchList(url) {
  let resp;
  try {
    resp = await fetch(url, { credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new Error(t('price.sync_unreachable', { url }));
  }
  if (!resp.ok) throw new Error(t('price.sync_unreachable', { url: `${url} (HTTP ${resp.status})` }));
  const doc = await resp.json().catch(() => null);
  const list = Array.isArray(doc) ? doc : doc && Array.isArray(doc.data) ? doc.data : null;
  if (!list) throw new Error(t('price.sync_bad_list'));
  return list;
}

/** What each mode would do to the stored prices (locked rows are never touched). */
function summary(list, stored) {
  const byModel = new Map(stored.map((p) => [p.model, p]));
  const listed = new Set(list.map((p) => p.model));
  const unlocked = stored.filter((p) => !p.locked);
  const fresh = list.filter((p) => !byModel.has(p.model)).length;
  const changed = list.filter((p) => {
    const o = byModel.get(p.model);
    return o && !o.locked && (o.type !== p.type || o.channel_type !== p.channel_type || Number(o.input) !== Number(p.input) || Number(o.output) !== Number(p.output));
  }).length;
  const dropped = unlocked.filter((p) => !listed.has(p.model)).length;
  return { fresh, changed, dropped };
}

async function sync(reload) {
  const url = await get('/api/prices/updateService');
  const [list, stored] = await Promise.all([fetchList(url), get('/api/prices', { type: 'db' })]);
  const s = summary(list, stored || []);
  const mode = select([
    ['add', t('price.mode_add', { n: s.fresh })],
    ['update', t('price.mode_update', { m: s.changed })],
    ['overwrite', t('price.mode_overwrite', { n: s.fresh, m: s.changed, d: s.dropped })],
  ], 'add', { dataset: { t: 'price-sync-mode' } });
  const done = await dialog(t('price.sync'), [
    h('p', { dataset: { t: 'price-sync-summary' } }, t('price.sync_summary', { n: list.length, url })),
    field(t('price.sync_mode'), mode, t('price.sync_locked')),
  ], {
    submit: t('price.sync'),
    danger: true,
    onSubmit: async () => {
      await post('/api/prices/sync', list, { updateMode: mode.value });
      return true;
    },
  });
  if (done) {
    toast(t('common.saved'));
    await reload();
  }
}

export async function render(el) {
  const listBox = h('div');
  const load = async () => {
    const all = (await get('/api/prices', { type: 'db' })) || [];
    const kw = state.keyword.toLowerCase();
    const rows = kw ? all.filter((p) => p.model.toLowerCase().includes(kw)) : all;
    mount(listBox, h('p.muted', t('price.count', { n: rows.length, total: all.length })), table([
      [t('price.model'), (p) => h('span', { dataset: { t: 'price-row-model' } }, p.model, p.locked ? h('span.tag', t('price.locked')) : null)],
      [t('price.owner'), (p) => typeName(p.channel_type)],
      [t('price.type'), (p) => (p.type === 'times' ? t('price.times') : t('price.tokens'))],
      [t('price.input'), (p) => `${p.input} (${usd(p.input, p.type)})`],
      [t('price.output'), (p) => `${p.output} (${usd(p.output, p.type)})`],
      [t('common.actions'), (p) => h('div.row-actions',
        h('button.btn.small', { dataset: { t: 'price-edit' }, onclick: async () => { if (await editor(p)) { toast(t('common.saved')); load().catch((e) => toast(e.message, 'error')); } } }, t('common.edit')),
        h('button.btn.small.danger', {
          onclick: async () => {
            if (!(await confirmAction(t('price.confirm_delete', { name: p.model })))) return;
            try { await del(`/api/prices/single/${encodeURIComponent(p.model)}`); toast(t('common.deleted')); await load(); } catch (e) { toast(e.message, 'error'); }
          },
        }, t('common.delete')))],
    ], rows.slice(0, 500), { rowAttrs: () => ({ dataset: { t: 'price-row' } }) }));
  };
  const search = h('input.search', { type: 'search', placeholder: t('price.search'), dataset: { t: 'price-search' } });
  search.addEventListener('input', () => { state.keyword = search.value.trim(); load().catch((e) => toast(e.message, 'error')); });
  mount(el, h('div.toolbar', search, h('div.spacer'),
    h('button.btn', {
      onclick: async () => {
        if (!(await confirmAction(t('price.confirm_reset'), t('price.reset')))) return;
        try {
          const defaults = await get('/api/prices', { type: 'default' });
          await post('/api/prices/sync', defaults, { updateMode: 'overwrite' });
          toast(t('common.saved'));
          await load();
        } catch (e) { toast(e.message, 'error'); }
      },
    }, t('price.reset')),
    h('button.btn', {
      dataset: { t: 'price-sync' },
      onclick: () => sync(load).catch((e) => toast(e.message, 'error')),
    }, t('price.sync')),
    h('button.btn.primary', { dataset: { t: 'price-new' }, onclick: async () => { if (await editor(null)) { toast(t('common.created_ok')); load().catch((e) => toast(e.message, 'error')); } } }, t('price.create'))),
  listBox);
  await load();
}
