// Sign-in with username (or email) and password. On a new node the root password is the one
// the node generated on first start (the `initial-root-password` file) or INITIAL_ROOT_PASSWORD.
// Below the form: password reset, sign-up (when open), and the outside sign-ins and passkeys
// switched on (page-oauth.js).

import { post } from './api.js';
import { session } from './core.js';
import { h, field } from './dom.js';
import { t } from './i18n.js';
import { signInOptions } from './page-oauth.js';
import { signUpOpen } from './page-signup.js';

export function render({ onSignedIn }) {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, maxlength: 100, dataset: { t: 'login-username' } });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 100, dataset: { t: 'login-password' } });
  const error = h('p.form-error', { hidden: true, dataset: { t: 'login-error' } });
  const button = h('button.btn.primary.block', { type: 'submit', dataset: { t: 'login-submit' } }, t('login.submit'));
  const form = h('form.card.login', {
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      error.hidden = true;
      try {
        await post('/api/user/login', { username: username.value.trim(), password: password.value });
        password.value = '';
        await onSignedIn();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    },
  },
  h('h1', session.status.system_name || 'One Hub'),
  h('p.muted', t('login.title')),
  field(t('login.username'), username),
  field(t('login.password'), password),
  error,
  button,
  h('p.login-links',
    h('a', { href: '/reset', dataset: { t: 'login-forgot' } }, t('signup.forgot')),
    signUpOpen() ? h('a', { href: '/register', dataset: { t: 'login-register' } }, t('signup.link')) : null),
  signInOptions(),
  h('p.hint', t('login.root_hint')));
  return form;
}
