// Profile (个人设置): display name, password, and the access token for scripts (shown once,
// when generated; generating replaces the previous one); the accounts bound for signing in
// (GitHub, Lark, OIDC, WeChat, e-mail), passkeys, and the invitation link.

import { get, put, post, del, call } from './api.js';
import { session, quota } from './core.js';
import { h, mount, field, toast, confirmAction, copyText, dialog, table, fmtTime } from './dom.js';
import { t } from './i18n.js';
import { toGithub, toLark, wechatDialog, passkeysSupported, registerPasskey } from './page-oauth.js';

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
      }, t('profile.token_generate')))),
    bindings(me, () => render(el)),
    passkeys(),
    invitation());
}

/** One row of the bindings: the provider, what is bound, and its actions. */
function bindingRow(key, name, value, actions) {
  return h('div.binding', { dataset: { t: `bind-${key}` } },
    h('strong', name),
    value ? h('span.bound', { dataset: { t: `bind-${key}-value` } }, value) : h('span.muted', t('bind.none')),
    h('div.row-actions', actions));
}

function bindings(me, reload) {
  const s = session.status;
  const unbind = (type, name) => h('button.btn.small.danger', {
    dataset: { t: `unbind-${type}` },
    onclick: async () => {
      if (!(await confirmAction(t('bind.unbind_confirm', { name }), t('bind.unbind')))) return;
      try {
        await post('/api/user/unbind', { type });
        toast(t('bind.unbound', { name }));
        reload();
      } catch (err) { toast(err.message, 'error'); }
    },
  }, t('bind.unbind'));
  const go = (fn, key) => h('button.btn.small', {
    dataset: { t: `bind-${key}-start` },
    onclick: async () => {
      try { await fn(); } catch (err) { toast(err.message, 'error'); }
    },
  }, t('bind.bind'));
  const rows = [];
  if (s.github_oauth || me.github_id) {
    rows.push(bindingRow('github', 'GitHub', me.github_id,
      me.github_id ? unbind('github', 'GitHub') : s.github_oauth ? go(toGithub, 'github') : null));
  }
  if (s.lark_login || me.lark_id) {
    rows.push(bindingRow('lark', t('oauth.lark_name'), me.lark_id,
      me.lark_id ? unbind('lark', t('oauth.lark_name')) : s.lark_login ? go(toLark, 'lark') : null));
  }
  if (s.oidc_auth || me.oidc_id) {
    // The node binds an OIDC account when it signs in with the same username.
    rows.push(bindingRow('oidc', 'OIDC', me.oidc_id, me.oidc_id ? unbind('oidc', 'OIDC') : h('small.hint', t('bind.oidc_hint'))));
  }
  if (s.wechat_login || me.wechat_id) {
    rows.push(bindingRow('wechat', t('oauth.wechat_name'), me.wechat_id ? t('bind.bound') : '',
      me.wechat_id ? unbind('wechat', t('oauth.wechat_name')) : s.wechat_login ? h('button.btn.small', {
        dataset: { t: 'bind-wechat-start' },
        onclick: async () => {
          const ok = await wechatDialog(t('bind.wechat_title'), (code) => call('GET', '/api/oauth/wechat/bind', { params: { code } }));
          if (ok) { toast(t('bind.done')); reload(); }
        },
      }, t('bind.bind')) : null));
  }
  rows.push(bindingRow('email', t('bind.email'), me.email, h('button.btn.small', {
    dataset: { t: 'bind-email-start' },
    onclick: async () => { if (await emailDialog()) { toast(t('bind.done')); reload(); } },
  }, me.email ? t('bind.change') : t('bind.bind'))));
  return h('section.card', { dataset: { t: 'bindings' } }, h('h2', t('bind.title')), h('p.muted', t('bind.intro')), h('div.bindings', rows));
}

/** Binds an e-mail address with the code mailed to it. */
function emailDialog() {
  const email = h('input', { type: 'email', required: true, maxlength: 50, dataset: { t: 'bind-email-input' } });
  const code = h('input', { required: true, maxlength: 20, autocomplete: 'one-time-code', dataset: { t: 'bind-email-code' } });
  const send = h('button.btn', {
    type: 'button',
    dataset: { t: 'bind-email-send' },
    onclick: async () => {
      send.disabled = true;
      try {
        await call('GET', '/api/verification', { params: { email: email.value.trim() } });
        toast(t('signup.code_sent'));
      } catch (err) { toast(err.message, 'error'); } finally { send.disabled = false; }
    },
  }, t('signup.send_code'));
  return dialog(t('bind.email_title'), [field(t('signup.email'), h('div.inline', email, send)), field(t('signup.code'), code)], {
    submit: t('bind.bind'),
    onSubmit: () => call('GET', '/api/oauth/email/bind', { params: { email: email.value.trim(), code: code.value.trim() } }),
  });
}

function passkeys() {
  const box = h('div', { dataset: { t: 'passkeys' } });
  const load = async () => {
    let list = [];
    try {
      list = (await get('/api/webauthn/credentials')) || [];
    } catch (err) { toast(err.message, 'error'); }
    mount(box, table([
      [t('passkey.alias'), (c) => h('span', { dataset: { t: 'passkey-alias' } }, c.alias || '—')],
      [t('common.created'), (c) => fmtTime(c.created_time)],
      [t('common.actions'), (c) => h('button.btn.small.danger', {
        dataset: { t: 'passkey-delete' },
        onclick: async () => {
          if (!(await confirmAction(t('passkey.delete_confirm', { name: c.alias || c.id })))) return;
          try {
            await del(`/api/webauthn/credentials/${c.id}`);
            toast(t('common.deleted'));
            load();
          } catch (err) { toast(err.message, 'error'); }
        },
      }, t('common.delete'))],
    ], list, { empty: t('passkey.none') }));
  };
  load();
  const add = h('button.btn.primary', {
    dataset: { t: 'passkey-add' },
    disabled: !passkeysSupported(),
    onclick: async () => {
      const alias = h('input', { maxlength: 50, placeholder: t('passkey.alias_hint'), dataset: { t: 'passkey-alias-input' } });
      const ok = await dialog(t('passkey.add'), [h('p.muted', t('passkey.add_intro')), field(t('passkey.alias'), alias)], {
        submit: t('passkey.add'),
        onSubmit: async () => {
          try {
            await registerPasskey(alias.value.trim());
          } catch (err) {
            if (err && err.name === 'NotAllowedError') throw new Error(t('passkey.cancelled'));
            throw err;
          }
        },
      });
      if (ok) { toast(t('passkey.added')); load(); }
    },
  }, t('passkey.add'));
  return h('section.card',
    h('div.card-head', h('h2', t('passkey.title')), add),
    h('p.muted', passkeysSupported() ? t('passkey.intro') : t('passkey.unsupported')),
    box);
}

function invitation() {
  const box = h('div');
  const show = async () => {
    try {
      const code = await get('/api/user/aff');
      const base = (session.status.server_address || location.origin).replace(/\/+$/, '');
      const link = `${base}/register?aff=${encodeURIComponent(code)}`;
      mount(box, h('p.key-cell.invite', h('code.key', { dataset: { t: 'aff-link' } }, link), ' ',
        h('button.btn.small', { dataset: { t: 'aff-copy' }, onclick: () => copyText(link) }, t('common.copy'))));
    } catch (err) { toast(err.message, 'error'); }
  };
  show();
  return h('section.card', { dataset: { t: 'invitation' } }, h('h2', t('aff.title')), h('p.muted', t('aff.intro')), box);
}
