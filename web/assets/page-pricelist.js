// The public model and price list (模型价格表): every model this site serves to the visitor's
// groups (`/api/available_model`: the public groups, and the signed-in user's own), with its
// owner and price. Open without signing in.

import { get } from './api.js';
import { h, mount, table, toast } from './dom.js';
import { t } from './i18n.js';

/** US$ per 1M tokens (or per call) of a One Hub price ratio. */
function usd(ratio, kind) {
  const v = kind === 'times' ? ratio * 0.002 : ratio * 2;
  return `$${+v.toFixed(4)}`;
}

export async function render(el) {
  const data = (await get('/api/available_model')) || {};
  const all = Object.entries(data).map(([model, v]) => ({ model, ...v }));
  const box = h('div');
  const draw = (kw) => {
    const rows = kw ? all.filter((r) => r.model.toLowerCase().includes(kw) || String(r.owned_by).toLowerCase().includes(kw)) : all;
    mount(box, table([
      [t('price.model'), (r) => h('code', { dataset: { t: 'pricelist-model' } }, r.model)],
      [t('price.owner'), (r) => r.owned_by],
      [t('pricelist.groups'), (r) => (r.groups || []).join(', ')],
      [t('price.type'), (r) => (r.price.type === 'times' ? t('price.times') : t('price.tokens'))],
      [t('pricelist.input'), (r) => usd(r.price.input, r.price.type)],
      [t('pricelist.output'), (r) => usd(r.price.output, r.price.type)],
    ], rows, { empty: t('pricelist.none') }));
  };
  const search = h('input.search', { type: 'search', placeholder: t('price.search') });
  search.addEventListener('input', () => draw(search.value.trim().toLowerCase()));
  mount(el, h('div.toolbar', search, h('span.muted', t('pricelist.unit'))), box);
  draw('');
  if (!all.length) toast(t('pricelist.none'));
}
