// Tokens (令牌): the caller's own API keys — list with search, create, copy the `sk-` key,
// edit limits (quota, expiry, group, models, IP allow-list), enable/disable, delete.

import { get, post, put, del } from './api.js';
import { quota, quotaFromInput, quotaToInput } from './core.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, select, fmtTime, toast, copyText } from './dom.js';
import { t } from './i18n.js';

const state = { page: 1, size: 10, keyword: '' };

function statusPill(s) {
  return {
    1: pill(t('token.status1'), 'ok'),
    2: pill(t('token.status2'), 'off'),
    3: pill(t('token.status3'), 'warn'),
    4: pill(t('token.status4'), 'warn'),
  }[s] || pill(String(s), 'off');
}

function lines(v) {
  return v.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

/** Local datetime-local text ↔ Unix seconds (-1 = never). */
function toLocalInput(ts) {
  if (!ts || ts <= 0) return '';
  const d = new Date(ts * 1000 - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

/** The key masked, with a button that shows it whole. */
function keyCell(key) {
  const full = `sk-${key}`;
  const masked = `${full.slice(0, 7)}…${full.slice(-4)}`;
  const code = h('code.key', { dataset: { t: 'token-key' } }, masked);
  let shown = false;
  const btn = h('button.btn.small.ghost', {
    type: 'button',
    dataset: { t: 'token-show' },
    'aria-label': t('token.show'),
    onclick: () => {
      shown = !shown;
      code.textContent = shown ? full : masked;
      btn.textContent = shown ? t('token.hide') : t('token.show');
    },
  }, t('token.show'));
  return h('span.key-cell', code, btn);
}

async function editor(token, groups) {
  const tk = token || { name: '', expired_time: -1, remain_quota: 0, unlimited_quota: true, group: '', backup_group: '', setting: {} };
  const limits = (tk.setting && tk.setting.limits) || {};
  const modelLimit = limits.limit_model_setting || {};
  const ipLimit = limits.limits_ip_setting || {};
  const name = h('input', { value: tk.name, maxlength: 30, required: true, dataset: { t: 'token-name' } });
  const never = h('input', { type: 'checkbox', checked: !(tk.expired_time > 0), dataset: { t: 'token-never' } });
  const expires = h('input', { type: 'datetime-local', value: toLocalInput(tk.expired_time) });
  const unlimited = h('input', { type: 'checkbox', checked: tk.unlimited_quota, dataset: { t: 'token-unlimited' } });
  const remain = h('input', { type: 'number', min: 0, step: 'any', value: quotaToInput(tk.remain_quota || 0), dataset: { t: 'token-quota' } });
  const groupOpts = [['', t('token.group_default')], ...groups.map((g) => [g, g])];
  const group = select(groupOpts, tk.group);
  const backup = select(groupOpts, tk.backup_group);
  const modelsOn = h('input', { type: 'checkbox', checked: !!modelLimit.enabled });
  const models = h('textarea', { rows: 2, placeholder: 'gpt-4o-mini, claude-3-5-sonnet' }, (modelLimit.models || []).join(', '));
  const ipOn = h('input', { type: 'checkbox', checked: !!ipLimit.enabled });
  const ips = h('textarea', { rows: 2, placeholder: '203.0.113.7, 10.0.0.0/8' }, (ipLimit.whitelist || []).join('\n'));
  const sync = () => {
    expires.disabled = never.checked;
    remain.disabled = unlimited.checked;
    models.disabled = !modelsOn.checked;
    ips.disabled = !ipOn.checked;
  };
  [never, unlimited, modelsOn, ipOn].forEach((c) => c.addEventListener('change', sync));
  sync();
  const body = h('div.form-grid',
    field(t('token.name'), name),
    field(t('token.group'), group),
    field(t('token.backup_group'), backup, t('token.backup_hint')),
    h('div.field', h('span.label', t('token.expires')), h('label.check', never, t('token.never')), expires),
    h('div.field', h('span.label', t('token.quota')), h('label.check', unlimited, t('token.unlimited')), remain),
    h('div.field.wide', h('label.check', modelsOn, t('token.limit_models')), models),
    h('div.field.wide', h('label.check', ipOn, t('token.limit_ips')), ips));
  return dialog(token ? t('token.edit') : t('token.create'), body, {
    wide: true,
    onSubmit: async () => {
      let expired = -1;
      if (!never.checked) {
        const ms = Date.parse(expires.value);
        if (!expires.value || Number.isNaN(ms)) throw new Error(t('token.bad_expiry'));
        expired = Math.floor(ms / 1000);
      }
      const setting = {
        ...(tk.setting || {}),
        limits: {
          limit_model_setting: { enabled: modelsOn.checked, models: lines(models.value) },
          limits_ip_setting: { enabled: ipOn.checked, whitelist: lines(ips.value) },
        },
      };
      const payload = {
        name: name.value.trim(),
        expired_time: expired,
        unlimited_quota: unlimited.checked,
        remain_quota: unlimited.checked ? (tk.remain_quota || 0) : quotaFromInput(remain.value),
        group: group.value,
        backup_group: backup.value,
        setting,
      };
      if (token) {
        await put('/api/token/', { ...token, ...payload });
      } else {
        await post('/api/token/', payload);
      }
      return true;
    },
  });
}

export async function render(el) {
  const groupMap = await get('/api/user_group_map').catch(() => ({}));
  const groups = Object.keys(groupMap || {});
  const listBox = h('div');
  const load = async () => {
    const data = await get('/api/token/', { page: state.page, size: state.size, keyword: state.keyword });
    const rows = data.data || [];
    mount(listBox,
      table([
        [t('token.name'), (r) => h('span', { dataset: { t: 'token-row-name' } }, r.name)],
        [t('token.key'), (r) => keyCell(r.key)],
        [t('common.status'), (r) => statusPill(r.status)],
        [t('token.group'), (r) => r.group || t('token.group_default')],
        [t('token.used'), (r) => quota(r.used_quota)],
        [t('token.remain'), (r) => (r.unlimited_quota ? t('token.unlimited') : quota(r.remain_quota))],
        [t('common.created'), (r) => fmtTime(r.created_time)],
        [t('token.expires'), (r) => (r.expired_time > 0 ? fmtTime(r.expired_time) : t('token.never'))],
        [t('common.actions'), (r) => h('div.row-actions',
          h('button.btn.small.primary', { dataset: { t: 'token-copy' }, onclick: () => copyText(`sk-${r.key}`) }, t('token.copy')),
          h('button.btn.small', {
            dataset: { t: 'token-toggle' },
            onclick: async () => {
              try {
                await put('/api/token/', { id: r.id, status: r.status === 1 ? 2 : 1 }, { status_only: 1 });
                toast(t('common.saved'));
                await load();
              } catch (e) { toast(e.message, 'error'); }
            },
          }, r.status === 1 ? t('common.disable') : t('common.enable')),
          h('button.btn.small', {
            dataset: { t: 'token-edit' },
            onclick: async () => { if (await editor(r, groups)) { toast(t('common.saved')); await load(); } },
          }, t('common.edit')),
          h('button.btn.small.danger', {
            dataset: { t: 'token-delete' },
            onclick: async () => {
              if (!(await confirmAction(t('token.confirm_delete', { name: r.name })))) return;
              try {
                await del(`/api/token/${r.id}`);
                toast(t('common.deleted'));
                await load();
              } catch (e) { toast(e.message, 'error'); }
            },
          }, t('common.delete')))],
      ], rows, { rowAttrs: () => ({ dataset: { t: 'token-row' } }) }),
      pager(data, (p) => { state.page = p; load().catch((e) => toast(e.message, 'error')); }));
  };
  const search = h('input.search', { type: 'search', placeholder: t('token.search'), value: state.keyword });
  mount(el,
    h('div.toolbar',
      h('form.inline', { onsubmit: (e) => { e.preventDefault(); state.keyword = search.value.trim(); state.page = 1; load().catch((x) => toast(x.message, 'error')); } },
        search, h('button.btn', { type: 'submit' }, t('common.search'))),
      h('div.spacer'),
      h('button.btn.primary', {
        dataset: { t: 'token-new' },
        onclick: async () => { if (await editor(null, groups)) { toast(t('common.created_ok')); state.page = 1; await load(); } },
      }, t('token.create'))),
    h('p.muted', t('token.key_hint')),
    listBox);
  await load();
}
