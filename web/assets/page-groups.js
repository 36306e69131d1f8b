// User groups (用户分组, admin): ratio, public, request rate, promotion thresholds; enable or
// disable, edit, delete (confirmed). Only enabled groups take part in routing and billing.

import { get, post, put, del } from './api.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, toast } from './dom.js';
import { t } from './i18n.js';

const state = { page: 1, size: 20 };

async function editor(group) {
  const g = group || { symbol: '', name: '', ratio: 1, api_rate: 0, public: false, promotion: false, min: 0, max: 0 };
  const symbol = h('input', { value: g.symbol, required: true, readonly: !!group, dataset: { t: 'group-symbol' } });
  const name = h('input', { value: g.name, required: true, dataset: { t: 'group-name' } });
  const ratio = h('input', { type: 'number', step: 'any', min: 0, value: g.ratio, dataset: { t: 'group-ratio' } });
  const rate = h('input', { type: 'number', min: 0, value: g.api_rate });
  const pub = h('input', { type: 'checkbox', checked: g.public });
  const promo = h('input', { type: 'checkbox', checked: g.promotion });
  const min = h('input', { type: 'number', min: 0, value: g.min });
  const max = h('input', { type: 'number', min: 0, value: g.max });
  return dialog(group ? t('group.edit') : t('group.create'), h('div.form-grid',
    field(t('group.symbol'), symbol, t('group.symbol_hint')),
    field(t('group.name'), name),
    field(t('group.ratio'), ratio, t('group.ratio_hint')),
    field(t('group.api_rate'), rate, t('group.api_rate_hint')),
    h('label.check', pub, t('group.public')),
    h('label.check', promo, t('group.promotion')),
    field(t('group.min'), min),
    field(t('group.max'), max)), {
    onSubmit: async () => {
      const r = Number(ratio.value);
      if (!(r >= 0)) throw new Error(t('group.bad_ratio'));
      const payload = { ...g, symbol: symbol.value.trim(), name: name.value.trim(), ratio: r, api_rate: Number(rate.value) || 0, public: pub.checked, promotion: promo.checked, min: Number(min.value) || 0, max: Number(max.value) || 0 };
      if (group) await put('/api/user_group/', payload);
      else await post('/api/user_group/', payload);
      return true;
    },
  });
}

export async function render(el) {
  const listBox = h('div');
  const reload = () => load().catch((e) => toast(e.message, 'error'));
  const load = async () => {
    const data = await get('/api/user_group/', { page: state.page, size: state.size });
    mount(listBox, table([
      [t('group.symbol'), (g) => h('code', { dataset: { t: 'group-row-symbol' } }, g.symbol)],
      [t('group.name'), (g) => g.name],
      [t('group.ratio'), (g) => g.ratio],
      [t('group.api_rate'), (g) => g.api_rate || '—'],
      [t('group.public'), (g) => (g.public ? t('common.yes') : t('common.no'))],
      [t('common.status'), (g) => (g.enable === false ? pill(t('token.status2'), 'off') : pill(t('token.status1'), 'ok'))],
      [t('common.actions'), (g) => h('div.row-actions',
        h('button.btn.small', { dataset: { t: 'group-edit' }, onclick: async () => { if (await editor(g)) { toast(t('common.saved')); reload(); } } }, t('common.edit')),
        h('button.btn.small', {
          dataset: { t: 'group-toggle' },
          onclick: async () => { try { await put(`/api/user_group/enable/${g.id}`); toast(t('common.saved')); await load(); } catch (e) { toast(e.message, 'error'); } },
        }, g.enable === false ? t('common.enable') : t('common.disable')),
        h('button.btn.small.danger', {
          dataset: { t: 'group-delete' },
          onclick: async () => {
            if (!(await confirmAction(t('group.confirm_delete', { name: g.symbol })))) return;
            try { await del(`/api/user_group/${g.id}`); toast(t('common.deleted')); await load(); } catch (e) { toast(e.message, 'error'); }
          },
        }, t('common.delete')))],
    ], data.data || [], { rowAttrs: () => ({ dataset: { t: 'group-row' } }) }),
    pager(data, (p) => { state.page = p; reload(); }));
  };
  mount(el, h('div.toolbar', h('p.muted', t('group.explain')), h('div.spacer'),
    h('button.btn.primary', { dataset: { t: 'group-new' }, onclick: async () => { if (await editor(null)) { toast(t('common.created_ok')); reload(); } } }, t('group.create'))),
  listBox);
  await load();
}
