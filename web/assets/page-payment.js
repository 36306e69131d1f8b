// Payments (支付, admin): the payment gateways — list with filters, create and edit per type
// (epay, Stripe; credentials write-only: answers blank them and an empty field keeps the stored
// value), enable/disable, delete — and the orders (订单) with filters.
// API: `/api/payment/` (GET list, POST create, PUT update), DELETE `/api/payment/{id}`,
// `GET /api/payment/order`.

import { get, post, put, del } from './api.js';
import { quota } from './core.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, select, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';

const gwState = { page: 1, size: 10, type: '', name: '' };
const orderState = { page: 1, size: 10, user_id: '', gateway_id: '', trade_no: '', gateway_no: '', status: '', start: '', end: '' };
let tab = 'gateways';

const TYPES = [['epay', 'pay.type_epay'], ['stripe', 'pay.type_stripe'], ['alipay', 'pay.type_alipay'], ['wxpay', 'pay.type_wxpay']];
/** The types this node takes orders for, offered for new gateways. */
const ORDERABLE = ['epay', 'stripe'];

/** The config fields of each type: [key, label key, secret, hint key]. */
const CONFIG = {
  epay: [
    ['pay_domain', 'pay.epay_domain', false],
    ['partner_id', 'pay.epay_pid', false],
    ['key', 'pay.epay_key', true],
    ['pay_type', 'pay.epay_type', false, 'pay.epay_type_hint'],
  ],
  stripe: [
    ['secret_key', 'pay.stripe_key', true],
    ['webhook_secret', 'pay.stripe_hook', true, 'pay.stripe_hook_hint'],
  ],
};

function typeName(k) {
  const e = TYPES.find(([v]) => v === k);
  return e ? t(e[1]) : k;
}

/** [value, label] options of these types. */
function typeOptions(list) {
  return list.map(([v]) => [v, typeName(v)]);
}

function parseConfig(s) {
  try {
    const v = JSON.parse(s || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

function fee(v) {
  const n = Number(String(v).trim() || 0);
  if (!Number.isFinite(n) || n < 0) throw new Error(t('pay.bad_fee'));
  return n;
}

async function editor(gw) {
  const g = gw || { type: 'epay', name: '', icon: '', notify_domain: '', fixed_fee: 0, percent_fee: 0, currency: 'CNY', sort: 1, enable: true, config: '' };
  const stored = parseConfig(g.config);
  const kinds = gw ? TYPES.filter(([v]) => ORDERABLE.includes(v) || v === g.type) : TYPES.filter(([v]) => ORDERABLE.includes(v));
  const type = select(typeOptions(kinds), g.type, { dataset: { t: 'pay-type' }, disabled: !!gw });
  const name = h('input', { value: g.name, maxlength: 255, required: true, dataset: { t: 'pay-name' } });
  const icon = h('input', { value: g.icon, maxlength: 300, placeholder: 'https://…', dataset: { t: 'pay-icon' } });
  const notify = h('input', { value: g.notify_domain, maxlength: 300, placeholder: 'https://hub.example.com', dataset: { t: 'pay-notify-domain' } });
  const fixed = h('input', { inputmode: 'decimal', value: g.fixed_fee, dataset: { t: 'pay-fixed-fee' } });
  const percent = h('input', { inputmode: 'decimal', value: g.percent_fee, dataset: { t: 'pay-percent-fee' } });
  const currency = select([['CNY', 'CNY'], ['USD', 'USD']], g.currency, { dataset: { t: 'pay-currency' } });
  const sort = h('input', { type: 'number', step: 1, value: g.sort, dataset: { t: 'pay-sort' } });
  const enable = h('input', { type: 'checkbox', checked: g.enable !== false, dataset: { t: 'pay-enable' } });
  const configBox = h('div.form-grid.wide');
  let inputs = [];
  let raw = null;
  const drawConfig = () => {
    const fields = CONFIG[type.value];
    if (!fields) {
      // A type without a form here (alipay, wxpay): its config as JSON, credentials blank.
      raw = h('textarea', { rows: 4, dataset: { t: 'pay-config' } }, g.config || '{}');
      inputs = [];
      mount(configBox, field(t('pay.config_json'), raw, t('pay.secret_keep')));
      return;
    }
    raw = null;
    inputs = fields.map(([key, label, secret, hint]) => {
      const i = secret
        ? h('input', { type: 'password', autocomplete: 'new-password', placeholder: gw ? t('pay.secret_keep') : '', dataset: { t: `pay-config-${key}` } })
        : h('input', { value: stored[key] || '', dataset: { t: `pay-config-${key}` } });
      return [key, label, secret, i, hint];
    });
    mount(configBox, inputs.map(([, label, , i, hint]) => field(t(label), i, hint ? t(hint) : null)));
  };
  type.addEventListener('change', drawConfig);
  drawConfig();
  const body = h('div.form-grid',
    field(t('pay.type'), type),
    field(t('pay.name'), name),
    field(t('pay.currency'), currency),
    field(t('pay.sort'), sort),
    field(t('pay.fixed_fee'), fixed),
    field(t('pay.percent_fee'), percent, t('pay.percent_hint')),
    field(t('pay.icon'), icon),
    field(t('pay.notify_domain'), notify, t('pay.notify_hint')),
    h('label.check', enable, t('pay.enabled')),
    h('div.field.wide', configBox));
  return dialog(gw ? t('pay.edit') : t('pay.create'), body, {
    wide: true,
    onSubmit: async () => {
      let config;
      if (raw) {
        config = raw.value.trim();
      } else {
        const c = { ...stored };
        for (const [key, label, secret, i] of inputs) {
          const v = i.value.trim();
          // A new epay gateway needs its key; a new Stripe one its secret key (the webhook
          // secret is created by the node).
          if (secret && !gw && !v && key !== 'webhook_secret') throw new Error(t('pay.secret_required', { name: t(label) }));
          c[key] = v;
        }
        config = JSON.stringify(c);
      }
      const payload = {
        type: type.value,
        name: name.value.trim(),
        icon: icon.value.trim(),
        notify_domain: notify.value.trim(),
        fixed_fee: fee(fixed.value),
        percent_fee: fee(percent.value),
        currency: currency.value,
        sort: Math.round(Number(sort.value) || 0),
        enable: enable.checked,
        config,
      };
      if (gw) await put('/api/payment/', { ...gw, ...payload });
      else await post('/api/payment/', payload);
      return true;
    },
  });
}

async function gatewaysTab(box) {
  const listBox = h('div');
  const load = async () => {
    const data = await get('/api/payment/', { page: gwState.page, size: gwState.size, type: gwState.type, name: gwState.name });
    const rows = data.data || [];
    const act = (fn) => async () => {
      try {
        if (await fn()) await load();
      } catch (e) { toast(e.message, 'error'); }
    };
    mount(listBox,
      table([
        ['ID', (r) => r.id],
        [t('pay.name'), (r) => h('span', { dataset: { t: 'pay-row-name' } }, r.name)],
        [t('pay.type'), (r) => [typeName(r.type), ORDERABLE.includes(r.type) ? null : h('small.muted', { title: t('pay.type_unsupported') }, ' ⚠')]],
        [t('pay.currency'), (r) => r.currency],
        [t('pay.fees'), (r) => (r.percent_fee > 0 ? `${+(r.percent_fee * 100).toFixed(2)}%` : r.fixed_fee > 0 ? String(r.fixed_fee) : '—')],
        [t('pay.sort'), (r) => r.sort],
        [t('common.status'), (r) => (r.enable ? pill(t('pay.status_on'), 'ok') : pill(t('pay.status_off'), 'off'))],
        [t('common.created'), (r) => fmtTime(r.created_at)],
        [t('common.actions'), (r) => h('div.row-actions',
          h('button.btn.small', {
            dataset: { t: 'pay-toggle' },
            onclick: act(async () => {
              await put('/api/payment/', { id: r.id, enable: !r.enable });
              toast(t('common.saved'));
              return true;
            }),
          }, r.enable ? t('common.disable') : t('common.enable')),
          h('button.btn.small', {
            dataset: { t: 'pay-edit' },
            onclick: act(async () => {
              if (!(await editor(r))) return false;
              toast(t('common.saved'));
              return true;
            }),
          }, t('common.edit')),
          h('button.btn.small.danger', {
            dataset: { t: 'pay-delete' },
            onclick: act(async () => {
              if (!(await confirmAction(t('pay.confirm_delete', { name: r.name })))) return false;
              await del(`/api/payment/${r.id}`);
              toast(t('common.deleted'));
              return true;
            }),
          }, t('common.delete')))],
      ], rows, { rowAttrs: (r) => ({ dataset: { t: 'pay-row', id: r.id } }) }),
      pager(data, (p) => { gwState.page = p; load().catch((e) => toast(e.message, 'error')); }));
  };
  const kind = select([['', t('pay.all_types')], ...typeOptions(TYPES)], gwState.type, { dataset: { t: 'pay-filter-type' } });
  const search = h('input.search', { type: 'search', placeholder: t('pay.name_search'), value: gwState.name });
  mount(box,
    h('div.toolbar',
      h('form.inline', {
        onsubmit: (e) => {
          e.preventDefault();
          Object.assign(gwState, { type: kind.value, name: search.value.trim(), page: 1 });
          load().catch((x) => toast(x.message, 'error'));
        },
      }, kind, search, h('button.btn', { type: 'submit' }, t('common.search'))),
      h('div.spacer'),
      h('button.btn.primary', {
        dataset: { t: 'pay-new' },
        onclick: async () => {
          try {
            if (await editor(null)) { toast(t('common.created_ok')); gwState.page = 1; await load(); }
          } catch (e) { toast(e.message, 'error'); }
        },
      }, t('pay.create'))),
    listBox);
  await load();
}

function orderPill(s) {
  return { pending: pill(t('order.pending'), 'warn'), success: pill(t('order.success'), 'ok'), closed: pill(t('order.closed'), 'off') }[s] || pill(s, 'off');
}

function toUnix(v) {
  const ms = Date.parse(v);
  return v && !Number.isNaN(ms) ? Math.floor(ms / 1000) : '';
}

async function ordersTab(box) {
  const gateways = await get('/api/payment/', { page: 1, size: 100 }).then((d) => d.data || []).catch(() => []);
  const gwName = (id) => (gateways.find((g) => g.id === id) || {}).name || `#${id}`;
  const listBox = h('div');
  const load = async () => {
    const s = orderState;
    const data = await get('/api/payment/order', {
      page: s.page, size: s.size, user_id: s.user_id, gateway_id: s.gateway_id, trade_no: s.trade_no,
      gateway_no: s.gateway_no, status: s.status, start_timestamp: toUnix(s.start), end_timestamp: toUnix(s.end),
    });
    mount(listBox,
      table([
        ['ID', (r) => r.id],
        [t('order.trade_no'), (r) => h('code', { dataset: { t: 'order-trade-no' } }, r.trade_no)],
        [t('order.user'), (r) => r.user_id],
        [t('order.gateway'), (r) => gwName(r.gateway_id)],
        [t('order.amount'), (r) => `$${r.amount}`],
        [t('order.paid'), (r) => `${Number(r.order_amount).toFixed(2)} ${r.order_currency}`],
        [t('order.fee'), (r) => (r.fee ? `${Number(r.fee).toFixed(2)} ${r.order_currency}` : '—')],
        [t('order.discount'), (r) => (r.discount ? `${Number(r.discount).toFixed(2)} ${r.order_currency}` : '—')],
        [t('order.quota'), (r) => quota(r.quota)],
        [t('common.status'), (r) => orderPill(r.status)],
        [t('common.created'), (r) => fmtTime(r.created_at)],
        [t('order.gateway_no'), (r) => r.gateway_no || '—'],
      ], data.data || [], { rowAttrs: () => ({ dataset: { t: 'order-row' } }) }),
      pager(data, (p) => { orderState.page = p; load().catch((e) => toast(e.message, 'error')); }));
  };
  const inputs = {
    user_id: h('input', { type: 'number', min: 1, value: orderState.user_id, dataset: { t: 'order-filter-user' } }),
    gateway_id: select([['', t('order.all_gateways')], ...gateways.map((g) => [g.id, g.name])], orderState.gateway_id, { dataset: { t: 'order-filter-gateway' } }),
    trade_no: h('input', { value: orderState.trade_no, dataset: { t: 'order-filter-trade-no' } }),
    gateway_no: h('input', { value: orderState.gateway_no }),
    status: select([['', t('order.all_status')], ['pending', t('order.pending')], ['success', t('order.success')], ['closed', t('order.closed')]], orderState.status, { dataset: { t: 'order-filter-status' } }),
    start: h('input', { type: 'datetime-local', value: orderState.start }),
    end: h('input', { type: 'datetime-local', value: orderState.end }),
  };
  const labels = { user_id: 'order.user', gateway_id: 'order.gateway', trade_no: 'order.trade_no', gateway_no: 'order.gateway_no', status: 'common.status', start: 'order.start', end: 'order.end' };
  mount(box,
    h('form.filters', {
      onsubmit: (e) => {
        e.preventDefault();
        for (const [k, i] of Object.entries(inputs)) orderState[k] = i.value.trim();
        orderState.page = 1;
        load().catch((x) => toast(x.message, 'error'));
      },
    }, Object.entries(inputs).map(([k, i]) => field(t(labels[k]), i)),
    h('button.btn.primary', { type: 'submit', dataset: { t: 'order-search' } }, t('common.search'))),
    listBox);
  await load();
}

export async function render(el) {
  const box = h('div');
  const tabs = h('div.tabs.page-tabs');
  const show = async (which) => {
    tab = which;
    mount(tabs,
      h('button.tab' + (tab === 'gateways' ? '.active' : ''), { type: 'button', dataset: { t: 'pay-tab-gateways' }, onclick: () => show('gateways').catch((e) => toast(e.message, 'error')) }, t('pay.gateways')),
      h('button.tab' + (tab === 'orders' ? '.active' : ''), { type: 'button', dataset: { t: 'pay-tab-orders' }, onclick: () => show('orders').catch((e) => toast(e.message, 'error')) }, t('pay.orders')));
    mount(box);
    await (tab === 'gateways' ? gatewaysTab(box) : ordersTab(box));
  };
  mount(el, tabs, box);
  await show(tab);
}
