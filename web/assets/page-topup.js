// Top-up (充值, every user): the balance; redeem a code (`POST /api/user/topup`); the site's
// top-up link; online payment through the gateways offered (`GET /api/user/payment`): amount
// (with the `RechargeDiscount` offers of `/api/status`) → order (`POST /api/user/order`) → the
// gateway's page; the last order's status on return (`GET /api/user/order/status`); the
// user's top-up history (the top-up entries of `/api/log/self`; the API lists no user orders).
//
// Going to the gateway: Stripe answers a Checkout URL, opened in this tab. Epay answers a form
// (`method: POST`, signed `params`) for `<pay_domain>/submit.php`; the console's CSP has
// `form-action 'self'`, so posting that form to another origin would be blocked. The same
// signed parameters go as a top-level GET navigation instead (epay's `submit.php` takes GET or
// POST), which the CSP does not restrict — no widening of form-action for every origin.

import { get, post, call } from './api.js';
import { session, quota } from './core.js';
import { h, mount, field, table, pill, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';

const PENDING = 'onehub.last_order';

function round2(n) {
  return Math.round(n * 100) / 100;
}

/** `RechargeDiscount` of the status: {amount: factor}, only factors in (0, 1]. */
function discounts() {
  let m = {};
  try {
    m = JSON.parse(session.status.RechargeDiscount || '{}') || {};
  } catch {
    m = {};
  }
  return Object.entries(m)
    .map(([a, f]) => [Number(a), Number(f)])
    .filter(([a, f]) => Number.isInteger(a) && a > 0 && Number.isFinite(f) && f > 0)
    .sort((x, y) => x[0] - y[0]);
}

/** What an order costs through `gw` — the server's rule (discount, fee, currency). */
function price(amount, gw) {
  const factor = (discounts().find(([a]) => a === amount) || [0, 1])[1];
  const net = amount * factor;
  let fee = 0;
  if (gw.percent_fee > 0) fee = round2(net * gw.percent_fee);
  else if (gw.fixed_fee > 0) fee = gw.fixed_fee;
  const total = round2(net + fee);
  const rate = Number(session.status.PaymentUSDRate) || 7.3;
  return { pay: gw.currency === 'USD' ? total : round2(total * rate), fee, currency: gw.currency || 'USD' };
}

function money(v, currency) {
  return `${currency === 'CNY' ? '¥' : '$'}${Number(v).toFixed(2)}`;
}

/** Opens the gateway's page for an order answer `{type, data: {url, method, params}}`. */
function goPay(answer) {
  const d = answer.data || {};
  let url;
  try {
    url = new URL(d.url, location.href);
  } catch {
    url = null;
  }
  if (answer.type !== 1 || !url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new Error(t('topup.unsupported'));
  }
  if (d.method && d.method.toUpperCase() === 'POST' && d.params) {
    // Epay: the signed form as a GET navigation (see the comment at the top).
    for (const [k, v] of Object.entries(d.params)) url.searchParams.set(k, String(v));
  }
  toast(t('topup.redirecting'));
  location.assign(url.href);
}

function stat(label, value, key) {
  return h('div.stat', { dataset: { t: key } }, h('span.stat-label', label), h('strong.stat-value', value));
}

export async function render(el) {
  const [me, gateways] = await Promise.all([
    get('/api/user/self'),
    get('/api/user/payment').catch(() => []),
  ]);
  session.user = me;
  const stats = h('div.stats');
  const drawStats = () => mount(stats,
    stat(t('topup.balance'), quota(session.user.quota), 'topup-balance'),
    stat(t('topup.used'), quota(session.user.used_quota), 'topup-used'));
  const refresh = async () => {
    session.user = await get('/api/user/self');
    drawStats();
    await loadHistory();
  };
  drawStats();

  // Redeem a code.
  const code = h('input', { placeholder: t('topup.code_placeholder'), autocomplete: 'off', dataset: { t: 'topup-code' } });
  const error = h('p.form-error', { hidden: true, dataset: { t: 'topup-error' } });
  const redeemBtn = h('button.btn.primary', { type: 'submit', dataset: { t: 'topup-redeem' } }, t('topup.redeem'));
  const redeem = h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      const key = code.value.trim();
      if (!key) {
        error.textContent = t('topup.no_code');
        error.hidden = false;
        return;
      }
      redeemBtn.disabled = true;
      try {
        const r = await post('/api/user/topup', { key });
        code.value = '';
        toast(t('topup.redeemed', { quota: quota(r.data) }));
        await refresh();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        toast(err.message, 'error');
      } finally {
        redeemBtn.disabled = false;
      }
    },
  }, h('h2', t('topup.redeem_title')),
  h('div.form-grid', field(t('topup.code'), code)),
  error,
  h('div.actions', redeemBtn),
  session.status.top_up_link ? h('p.muted', t('topup.buy_hint'), ' ',
    h('a.btn.small', { href: session.status.top_up_link, target: '_blank', rel: 'noopener noreferrer', dataset: { t: 'topup-link' } }, t('topup.buy_link'))) : null);

  // Pay online.
  const online = h('div.card', { dataset: { t: 'topup-online' } }, h('h2', t('topup.online_title')));
  const list = (gateways || []).slice().sort((a, b) => (b.sort || 0) - (a.sort || 0));
  if (!list.length) {
    online.append(h('p.muted', { dataset: { t: 'topup-no-gateway' } }, t('topup.no_gateway')));
  } else {
    const min = Math.max(1, Math.ceil(Number(session.status.PaymentMinAmount) || 1));
    let chosen = list[0];
    const amount = h('input', { type: 'number', min, step: 1, value: Math.max(min, 10), dataset: { t: 'topup-amount' } });
    const summary = h('dl.details', { dataset: { t: 'topup-summary' } });
    const tabs = h('div.tabs');
    const drawTabs = () => mount(tabs, list.map((g) => h('button.tab' + (g === chosen ? '.active' : ''), {
      type: 'button',
      dataset: { t: 'topup-gateway', name: g.name },
      onclick: () => { chosen = g; drawTabs(); draw(); },
    }, g.name)));
    const draw = () => {
      const a = Number(amount.value);
      if (!Number.isInteger(a) || a < min) {
        mount(summary, h('dt', t('topup.to_pay')), h('dd', '—'));
        return;
      }
      const p = price(a, chosen);
      const qpu = Number(session.status.quota_per_unit) || 500000;
      mount(summary,
        h('dt', t('topup.get_quota')), h('dd', quota(a * qpu)),
        p.fee > 0 ? [h('dt', t('topup.fee')), h('dd', money(p.fee, 'USD'))] : null,
        h('dt', t('topup.to_pay')), h('dd', h('strong', { dataset: { t: 'topup-to-pay' } }, money(p.pay, p.currency))));
    };
    amount.addEventListener('input', draw);
    const offers = discounts().filter(([, f]) => f < 1);
    const payBtn = h('button.btn.primary', { type: 'submit', dataset: { t: 'topup-pay' } }, t('topup.pay'));
    const payError = h('p.form-error', { hidden: true, dataset: { t: 'topup-pay-error' } });
    online.append(h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        payError.hidden = true;
        const a = Number(amount.value);
        payBtn.disabled = true;
        try {
          if (!Number.isInteger(a) || a < min) throw new Error(t('topup.bad_amount', { min }));
          const r = await post('/api/user/order', { uuid: chosen.uuid, amount: a });
          const answer = r.data || {};
          sessionStorage.setItem(PENDING, JSON.stringify({ trade_no: answer.trade_no, amount: a, at: Math.floor(Date.now() / 1000) }));
          goPay(answer);
        } catch (err) {
          payError.textContent = err.message;
          payError.hidden = false;
          payBtn.disabled = false;
        }
      },
    },
    h('div.field', h('span.label', t('topup.gateway')), tabs),
    h('div.form-grid', field(t('topup.amount'), amount, t('topup.amount_hint', { min }))),
    offers.length ? h('div.field', h('span.label', t('topup.discounts')), h('div.checks', offers.map(([a, f]) => h('button.tab', {
      type: 'button',
      dataset: { t: 'topup-offer' },
      onclick: () => { amount.value = a; draw(); },
    }, t('topup.discount_chip', { amount: a, pct: +(f * 10).toFixed(2), off: +((1 - f) * 100).toFixed(1) }))))) : null,
    summary,
    payError,
    h('div.actions', payBtn)));
    drawTabs();
    draw();
  }

  // The last order, when coming back from a gateway.
  const lastBox = h('div');
  let polls = 0;
  const checkLast = async () => {
    let last;
    try {
      last = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
    } catch {
      last = null;
    }
    if (!last || !last.trade_no) {
      mount(lastBox);
      return;
    }
    const status = await call('GET', '/api/user/order/status', { params: { trade_no: last.trade_no }, raw: true }).catch(() => null);
    const paid = !!(status && status.success);
    mount(lastBox, h('div.card', { dataset: { t: 'topup-last-order' } },
      h('div.card-head', h('h2', t('topup.last_order')),
        h('div.row-actions',
          paid ? null : h('button.btn.small', { type: 'button', dataset: { t: 'topup-order-check' }, onclick: () => checkLast() }, t('topup.order_check')),
          h('button.btn.small.ghost', { type: 'button', onclick: () => { sessionStorage.removeItem(PENDING); mount(lastBox); } }, t('topup.order_forget')))),
      h('dl.details',
        h('dt', t('order.trade_no')), h('dd', h('code', last.trade_no)),
        h('dt', t('order.amount')), h('dd', money(last.amount || 0, 'USD')),
        h('dt', t('common.created')), h('dd', fmtTime(last.at)),
        h('dt', t('common.status')), h('dd', paid ? pill(t('topup.order_paid'), 'ok') : pill(t('topup.order_pending'), 'warn')))));
    if (paid) {
      // Shown this once; the next visit starts clean.
      sessionStorage.removeItem(PENDING);
      toast(t('topup.order_paid'));
      await refresh();
    } else if (polls++ < 20) {
      setTimeout(() => { if (lastBox.isConnected) checkLast().catch(() => {}); }, 3000);
    }
  };

  // The top-up history (the log's top-up entries).
  const historyBox = h('div');
  const loadHistory = async () => {
    const data = await get('/api/log/self', { log_type: 1, page: 1, size: 10 }).catch(() => ({ data: [] }));
    mount(historyBox, table([
      [t('log.time'), (r) => fmtTime(r.created_at)],
      [t('redeem.quota'), (r) => quota(r.quota)],
      [t('log.content'), (r) => r.content],
    ], (data && data.data) || [], { rowAttrs: () => ({ dataset: { t: 'topup-history-row' } }) }));
  };

  mount(el,
    stats,
    lastBox,
    h('div.topup-grid', redeem, online),
    h('div.card', h('h2', t('topup.history')), h('p.muted', t('topup.history_hint')), historyBox));
  await Promise.all([loadHistory(), checkLast().catch(() => {})]);
}
