// Users (用户, admin): list with search, create, edit (name, group, role-safe fields), add
// quota (with a remark, logged), enable/disable, promote/demote (root), sign out everywhere,
// delete — every destructive action confirmed.

import { get, post, put, call } from './api.js';
import { role, ROLE, quota, quotaFromInput } from './core.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, select, toast } from './dom.js';
import { t } from './i18n.js';

const state = { page: 1, size: 20, keyword: '' };

function roleName(r) {
  return r >= 100 ? t('user.role_root') : r >= 10 ? t('user.role_admin') : t('user.role_user');
}

async function editor(user, groups) {
  const u = user || { username: '', display_name: '', group: 'default' };
  const username = h('input', { value: u.username, maxlength: 12, required: true, dataset: { t: 'user-username' } });
  const display = h('input', { value: u.display_name || '', maxlength: 20 });
  const password = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 20, required: !user, dataset: { t: 'user-password' } });
  const group = select(groups.map((g) => [g, g]), u.group || 'default');
  const body = h('div.form-grid',
    field(t('user.username'), username),
    field(t('profile.display_name'), display),
    field(user ? t('user.password_keep') : t('user.password'), password, t('profile.password_hint')),
    user ? field(t('profile.group'), group) : null);
  return dialog(user ? t('user.edit') : t('user.create'), body, {
    onSubmit: async () => {
      if (user) {
        const payload = { ...user, username: username.value.trim(), display_name: display.value.trim(), group: group.value, password: password.value };
        await put('/api/user/', payload);
      } else {
        await post('/api/user/', { username: username.value.trim(), display_name: display.value.trim(), password: password.value });
      }
      return true;
    },
  });
}

async function addQuota(user) {
  const amount = h('input', { type: 'number', step: 'any', required: true, dataset: { t: 'user-quota-amount' } });
  const remark = h('input', { maxlength: 100 });
  return dialog(t('user.add_quota', { name: user.username }), h('div.form-grid',
    field(t('user.quota_delta'), amount, t('user.quota_hint')),
    field(t('user.remark'), remark)), {
    onSubmit: async () => {
      const q = quotaFromInput(amount.value);
      if (!q) throw new Error(t('user.quota_zero'));
      await post(`/api/user/quota/${user.id}`, { quota: q, remark: remark.value.trim() });
      return true;
    },
  });
}

export async function render(el) {
  const groups = await get('/api/group/').catch(() => ['default']);
  const listBox = h('div');
  const reload = () => load().catch((e) => toast(e.message, 'error'));
  const manage = (u, action) => async () => {
    if (['delete', 'disable', 'demote'].includes(action) && !(await confirmAction(t(`user.confirm_${action}`, { name: u.username }), t(`user.${action}`)))) return;
    try {
      await post('/api/user/manage', { username: u.username, action });
      toast(t('common.saved'));
      await load();
    } catch (e) { toast(e.message, 'error'); }
  };
  const load = async () => {
    const data = await get('/api/user/', { page: state.page, size: state.size, keyword: state.keyword });
    const rows = data.data || [];
    mount(listBox, table([
      ['ID', (u) => u.id],
      [t('user.username'), (u) => h('span', { dataset: { t: 'user-row-name' } }, u.username, u.display_name && u.display_name !== u.username ? h('small.muted', ` ${u.display_name}`) : null)],
      [t('user.role'), (u) => roleName(u.role)],
      [t('common.status'), (u) => (u.status === 1 ? pill(t('token.status1'), 'ok') : pill(t('token.status2'), 'off'))],
      [t('profile.group'), (u) => u.group],
      [t('dash.balance'), (u) => quota(u.quota)],
      [t('dash.used'), (u) => quota(u.used_quota)],
      [t('profile.requests'), (u) => u.request_count],
      [t('common.actions'), (u) => h('div.row-actions',
        h('button.btn.small', { dataset: { t: 'user-quota' }, onclick: async () => { if (await addQuota(u)) { toast(t('common.saved')); reload(); } } }, t('user.quota')),
        h('button.btn.small', { dataset: { t: 'user-edit' }, onclick: async () => { try { if (await editor(await get(`/api/user/${u.id}`), groups)) { toast(t('common.saved')); reload(); } } catch (e) { toast(e.message, 'error'); } } }, t('common.edit')),
        u.role < ROLE.root ? h('button.btn.small', { dataset: { t: 'user-toggle' }, onclick: manage(u, u.status === 1 ? 'disable' : 'enable') }, u.status === 1 ? t('common.disable') : t('common.enable')) : null,
        role() >= ROLE.root && u.role < ROLE.root ? h('button.btn.small', { onclick: manage(u, u.role >= ROLE.admin ? 'demote' : 'promote') }, u.role >= ROLE.admin ? t('user.demote') : t('user.promote')) : null,
        h('button.btn.small', {
          onclick: async () => {
            if (!(await confirmAction(t('user.confirm_logout', { name: u.username }), t('user.logout')))) return;
            try { await call('POST', `/api/user/${u.id}/logout`); toast(t('common.saved')); } catch (e) { toast(e.message, 'error'); }
          },
        }, t('user.logout')),
        u.role < ROLE.root ? h('button.btn.small.danger', { dataset: { t: 'user-delete' }, onclick: manage(u, 'delete') }, t('common.delete')) : null)],
    ], rows, { rowAttrs: () => ({ dataset: { t: 'user-row' } }) }),
    pager(data, (p) => { state.page = p; reload(); }));
  };
  const search = h('input.search', { type: 'search', placeholder: t('user.search'), value: state.keyword });
  mount(el, h('div.toolbar',
    h('form.inline', { onsubmit: (e) => { e.preventDefault(); state.keyword = search.value.trim(); state.page = 1; reload(); } }, search, h('button.btn', { type: 'submit' }, t('common.search'))),
    h('div.spacer'),
    h('button.btn.primary', { dataset: { t: 'user-new' }, onclick: async () => { if (await editor(null, groups)) { toast(t('common.created_ok')); reload(); } } }, t('user.create'))),
  listBox);
  await load();
}
