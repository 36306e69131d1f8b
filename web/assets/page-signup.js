// Sign-up (/register) and password reset (/reset, and /user/reset: the link in the e-mail),
// public pages. One Hub's messages are shown as the API gives them.

import { post, call } from './api.js';
import { session, navigate } from './core.js';
import { h, mount, field, toast, copyText } from './dom.js';
import { t } from './i18n.js';
import { rememberAff } from './page-oauth.js';

/** Cloudflare's Turnstile script is not allowed by the console's CSP: say so plainly. */
function turnstileNotice() {
  return h('section.card.notice.narrow', { dataset: { t: 'turnstile-notice' } },
    h('h2', t('signup.turnstile_title')), h('p', t('signup.turnstile_body')));
}

function errorLine(attr) {
  return h('p.form-error', { hidden: true, dataset: { t: attr } });
}

function showError(el, err) {
  el.textContent = err.message || String(err);
  el.hidden = false;
}

/** Whether `POST /api/user/register` can work, from `/api/status`. */
export function signUpOpen() {
  const s = session.status;
  return s.register_enabled !== false && s.password_register_enabled !== false;
}

export const register = {
  async render(el) {
    // Signed in already: nothing to sign up for.
    if (session.user) {
      navigate('/panel/dashboard', { replace: true });
      return;
    }
    const s = session.status;
    rememberAff(new URLSearchParams(location.search).get('aff') || '');
    if (!signUpOpen()) {
      mount(el, h('section.card.narrow', { dataset: { t: 'signup-closed' } },
        h('p', s.register_enabled === false ? t('signup.closed') : t('signup.password_closed')),
        h('div.actions', h('a.btn', { href: '/login' }, t('signup.to_login')))));
      return;
    }
    if (s.turnstile_check) {
      mount(el, turnstileNotice());
      return;
    }
    const aff = new URLSearchParams(location.search).get('aff') || '';
    const username = h('input', { name: 'username', autocomplete: 'username', required: true, maxlength: 12, dataset: { t: 'signup-username' } });
    const password = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 20, dataset: { t: 'signup-password' } });
    const again = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 20, dataset: { t: 'signup-password2' } });
    const email = h('input', { type: 'email', autocomplete: 'email', maxlength: 50, required: !!s.email_verification, dataset: { t: 'signup-email' } });
    const code = h('input', { autocomplete: 'one-time-code', maxlength: 20, required: !!s.email_verification, dataset: { t: 'signup-code' } });
    const affInput = h('input', { value: aff, maxlength: 20, dataset: { t: 'signup-aff' } });
    const error = errorLine('signup-error');
    const send = h('button.btn', {
      type: 'button',
      dataset: { t: 'signup-send-code' },
      onclick: async () => {
        error.hidden = true;
        if (!email.value.trim()) {
          showError(error, new Error(t('signup.email_first')));
          return;
        }
        send.disabled = true;
        try {
          await call('GET', '/api/verification', { params: { email: email.value.trim() } });
          toast(t('signup.code_sent'));
        } catch (err) {
          showError(error, err);
        } finally {
          send.disabled = false;
        }
      },
    }, t('signup.send_code'));
    const submit = h('button.btn.primary.block', { type: 'submit', dataset: { t: 'signup-submit' } }, t('signup.submit'));
    const form = h('form.card.login.narrow', {
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        if (password.value !== again.value) {
          showError(error, new Error(t('signup.mismatch')));
          return;
        }
        submit.disabled = true;
        try {
          const body = { username: username.value.trim(), password: password.value, aff_code: affInput.value.trim() };
          if (s.email_verification) {
            body.email = email.value.trim();
            body.verification_code = code.value.trim();
          }
          const r = await post('/api/user/register', body);
          toast(r.message || t('signup.done'));
          navigate('/login');
        } catch (err) {
          showError(error, err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('p.muted', t('signup.intro')),
    field(t('signup.username'), username, t('signup.username_hint')),
    field(t('signup.password'), password, t('signup.password_hint')),
    field(t('signup.password_again'), again),
    s.email_verification ? [
      field(t('signup.email'), h('div.inline', email, send)),
      field(t('signup.code'), code),
    ] : null,
    field(t('signup.aff'), affInput),
    error,
    submit,
    h('p.hint', t('signup.have_account'), ' ', h('a', { href: '/login', dataset: { t: 'signup-login' } }, t('signup.to_login'))));
    mount(el, form);
  },
};

/** `/reset`: asks for the address and mails the link. */
export const resetRequest = {
  async render(el) {
    if (session.status.turnstile_check) {
      mount(el, turnstileNotice());
      return;
    }
    const email = h('input', { type: 'email', autocomplete: 'email', required: true, maxlength: 50, dataset: { t: 'reset-email' } });
    const error = errorLine('reset-error');
    const done = h('p.ok-text', { hidden: true, dataset: { t: 'reset-sent' } });
    const submit = h('button.btn.primary.block', { type: 'submit', dataset: { t: 'reset-submit' } }, t('reset.send'));
    mount(el, h('form.card.login.narrow', {
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        done.hidden = true;
        submit.disabled = true;
        try {
          await call('GET', '/api/reset_password', { params: { email: email.value.trim() } });
          done.textContent = t('reset.sent', { email: email.value.trim() });
          done.hidden = false;
        } catch (err) {
          showError(error, err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('p.muted', t('reset.intro')),
    field(t('signup.email'), email),
    error,
    done,
    submit,
    h('p.hint', h('a', { href: '/login' }, t('signup.to_login')))));
  },
};

/** `/user/reset?email=&token=`: the link in the mail; the new password is shown once. */
export const resetConfirm = {
  async render(el) {
    const q = new URLSearchParams(location.search);
    const email = q.get('email') || '';
    const token = q.get('token') || '';
    const error = errorLine('reset-error');
    const out = h('div.reset-out');
    const submit = h('button.btn.primary.block', { type: 'submit', dataset: { t: 'reset-confirm' } }, t('reset.confirm'));
    const form = h('form.card.login.narrow', {
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          const r = await post('/api/user/reset', { email, token });
          const password = r.data;
          submit.hidden = true;
          mount(out,
            h('p', t('reset.new_password')),
            h('p.key-cell', h('code.key', { dataset: { t: 'reset-password' } }, password), ' ',
              h('button.btn.small', { type: 'button', dataset: { t: 'reset-copy' }, onclick: () => copyText(password) }, t('common.copy'))),
            h('p.hint', t('reset.once')),
            h('a.btn.primary.block', { href: '/login', dataset: { t: 'reset-login' } }, t('signup.to_login')));
        } catch (err) {
          showError(error, err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('p.muted', t('reset.confirm_intro', { email })),
    !email || !token ? h('p.form-error', t('reset.bad_link')) : null,
    error,
    out,
    submit);
    if (!email || !token) submit.disabled = true;
    mount(el, form);
  },
};
