// Profile (个人设置): display name, password, and the access token for scripts (shown once,
// when generated; generating replaces the previous one).

import { get, put, call } from './api.js';
import { session, quota } from './core.js';
import { h, mount, field, toast, confirmAction, copyText } from './dom.js';
import { t } from './i18n.js';

export async function render(el) {
  const me = await get('/api/user/self');
  session.user = me;
  const display = h('input', { value: me.display_name || '', maxlength: 20, dataset: { t: 'profile-display' } });
  const password = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 20, dataset: { t: 'profile-password' } });
  const again = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 20, dataset: { t: 'profile-password2' } });
  const save = h('button.btn.primary', { type: 'submit', dataset: { t: 'profile-save' } }, t('common.save'));
  const tokenBox = h('div.token-box');
  mount(el,
    h('div.stats',
      h('div.stat', h('span.stat-label', t('profile.username')), h('strong.stat-value', me.username)),
      h('div.stat', h('span.stat-label', t('profile.group')), h('strong.stat-value', me.group || 'default')),
      h('div.stat', h('span.stat-label', t('dash.balance')), h('strong.stat-value', quota(me.quota))),
      h('div.stat', h('span.stat-label', t('profile.requests')), h('strong.stat-value', String(me.request_count || 0)))),
    h('form.card', {
      onsubmit: async (e) => {
        e.preventDefault();
        if (password.value && password.value !== again.value) {
          toast(t('profile.mismatch'), 'error');
          return;
        }
        save.disabled = true;
        try {
          const body = { display_name: display.value.trim() };
          if (password.value) body.password = password.value;
          await put('/api/user/self', body);
          password.value = '';
          again.value = '';
          session.user = await get('/api/user/self');
          toast(t('common.saved'));
        } catch (err) {
          toast(err.message, 'error');
        } finally {
          save.disabled = false;
        }
      },
    }, h('h2', t('profile.account')),
    h('div.form-grid',
      field(t('profile.display_name'), display),
      field(t('profile.new_password'), password, t('profile.password_hint')),
      field(t('profile.password_again'), again)),
    h('div.actions', save)),
    h('section.card', h('h2', t('profile.access_token')), h('p.muted', t('profile.access_token_hint')), tokenBox,
      h('div.actions', h('button.btn', {
        dataset: { t: 'profile-token' },
        onclick: async () => {
          if (!(await confirmAction(t('profile.token_confirm'), t('profile.token_generate')))) return;
          try {
            const r = await call('GET', '/api/user/token');
            const code = h('code.key', { dataset: { t: 'profile-token-value' } }, r.data);
            mount(tokenBox, h('p', code, ' ', h('button.btn.small', { onclick: () => copyText(r.data) }, t('common.copy'))));
          } catch (err) { toast(err.message, 'error'); }
        },
      }, t('profile.token_generate')))));
}
