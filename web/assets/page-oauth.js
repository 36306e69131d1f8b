// Sign-in with outside accounts and passkeys: the buttons of the sign-in page (GitHub, Lark,
// OIDC, WeChat, passkey), the pages the providers redirect back to (/oauth/github, /oauth/lark,
// /oauth/oidc), which sign in — or, signed in already, bind the account — and the WebAuthn
// helpers the profile uses too.

import { get, post, call } from './api.js';
import { session, navigate } from './core.js';
import { h, mount, field, toast, dialog } from './dom.js';
import { t } from './i18n.js';

const AFF_KEY = 'onehub.aff';

/** Remembers an invitation code (from `/register?aff=`) for a sign-up through a provider. */
export function rememberAff(code) {
  try {
    if (code) localStorage.setItem(AFF_KEY, code);
  } catch {
    // Storage refused: the code is only lost for outside sign-ups.
  }
}

function rememberedAff() {
  try {
    return localStorage.getItem(AFF_KEY) || '';
  } catch {
    return '';
  }
}

// ---- WebAuthn: the API speaks base64url, the browser ArrayBuffers.

export function b64uToBuf(s) {
  const b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function bufToB64u(buf) {
  const bytes = new Uint8Array(buf);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A `PublicKeyCredential` as the API takes it (base64url fields). */
export function credentialJson(cred) {
  const r = cred.response;
  const response = { clientDataJSON: bufToB64u(r.clientDataJSON) };
  if (r.attestationObject) response.attestationObject = bufToB64u(r.attestationObject);
  if (r.authenticatorData) response.authenticatorData = bufToB64u(r.authenticatorData);
  if (r.signature) response.signature = bufToB64u(r.signature);
  if (r.userHandle) response.userHandle = bufToB64u(r.userHandle);
  return { id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, response };
}

const descriptors = (list) => (list || []).map((c) => ({ ...c, id: b64uToBuf(c.id) }));

export function passkeysSupported() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/** Adds a passkey to the signed-in account (`navigator.credentials.create`). */
export async function registerPasskey(alias) {
  const begin = await post('/api/webauthn/registration/begin', { alias });
  const o = begin.data.publicKey;
  const publicKey = {
    ...o,
    challenge: b64uToBuf(o.challenge),
    user: { ...o.user, id: b64uToBuf(o.user.id) },
    excludeCredentials: descriptors(o.excludeCredentials),
  };
  const cred = await navigator.credentials.create({ publicKey });
  if (!cred) throw new Error(t('passkey.cancelled'));
  return post('/api/webauthn/registration/finish', credentialJson(cred));
}

/** Signs in with a passkey the browser offers (a discoverable credential). */
async function passkeySignIn() {
  const begin = await post('/api/webauthn/login/begin', { username: '' });
  const o = begin.data.publicKey;
  const publicKey = { ...o, challenge: b64uToBuf(o.challenge) };
  if (o.allowCredentials) publicKey.allowCredentials = descriptors(o.allowCredentials);
  const cred = await navigator.credentials.get({ publicKey });
  if (!cred) throw new Error(t('passkey.cancelled'));
  await post('/api/webauthn/login/finish', credentialJson(cred));
}

// ---- The providers.

function redirectUri(provider) {
  const base = (session.status.server_address || location.origin).replace(/\/+$/, '');
  return `${base}/oauth/${provider}`;
}

/** Goes to GitHub's authorization page with a fresh state (sign-in or binding). */
export async function toGithub() {
  const state = await get('/api/oauth/state');
  const q = new URLSearchParams({ client_id: session.status.github_client_id || '', state, scope: 'user:email' });
  location.assign(`https://github.com/login/oauth/authorize?${q}`);
}

/** Goes to Lark's (Feishu's) authorization page with a fresh state. */
export async function toLark() {
  const state = await get('/api/oauth/state');
  const q = new URLSearchParams({ app_id: session.status.lark_client_id || '', redirect_uri: redirectUri('lark'), state });
  location.assign(`https://open.feishu.cn/open-apis/authen/v1/authorize?${q}`);
}

/** Goes to the OIDC provider (the node builds the URL, with state, nonce and PKCE). */
export async function toOidc() {
  location.assign(await get('/api/oauth/endpoint'));
}

/** The WeChat QR code: shown when it is served by this node (the CSP allows no other image),
 *  else a link to open it. */
export function wechatQr() {
  const url = session.status.wechat_qrcode || '';
  if (!url) return null;
  if (url.startsWith('/') || url.startsWith('data:image/')) {
    return h('img.qr', { src: url, alt: t('oauth.wechat_qr'), dataset: { t: 'wechat-qr' } });
  }
  return h('p', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', dataset: { t: 'wechat-qr' } }, t('oauth.wechat_qr_open')));
}

/** Asks for the code the WeChat official account answered; `use(code)` signs in or binds. */
export function wechatDialog(title, use) {
  const code = h('input', { required: true, maxlength: 20, autocomplete: 'one-time-code', dataset: { t: 'wechat-code' } });
  return dialog(title, [h('p.muted', t('oauth.wechat_hint')), wechatQr(), field(t('oauth.wechat_code'), code)], {
    submit: t('oauth.wechat_submit'),
    onSubmit: () => use(code.value.trim()),
  });
}

async function enterConsole() {
  session.user = await get('/api/user/self');
  navigate('/panel/dashboard');
}

/** The outside sign-ins and the passkey button of the sign-in page (only those switched on). */
export function signInOptions() {
  const s = session.status;
  const error = h('p.form-error', { hidden: true, dataset: { t: 'oauth-error' } });
  const run = (fn) => async (e) => {
    const btn = e.currentTarget;
    btn.disabled = true;
    error.hidden = true;
    try {
      await fn();
    } catch (err) {
      if (err && err.name === 'NotAllowedError') error.textContent = t('passkey.cancelled');
      else error.textContent = err.message || String(err);
      error.hidden = false;
    } finally {
      btn.disabled = false;
    }
  };
  const buttons = [];
  if (s.github_oauth) buttons.push(h('button.btn.block', { type: 'button', dataset: { t: 'oauth-github' }, onclick: run(toGithub) }, t('oauth.github')));
  if (s.lark_login) buttons.push(h('button.btn.block', { type: 'button', dataset: { t: 'oauth-lark' }, onclick: run(toLark) }, t('oauth.lark')));
  if (s.oidc_auth) buttons.push(h('button.btn.block', { type: 'button', dataset: { t: 'oauth-oidc' }, onclick: run(toOidc) }, t('oauth.oidc')));
  if (s.wechat_login) {
    buttons.push(h('button.btn.block', {
      type: 'button',
      dataset: { t: 'oauth-wechat' },
      onclick: run(async () => {
        const ok = await wechatDialog(t('oauth.wechat'), async (code) => {
          await call('GET', '/api/oauth/wechat', { params: { code, aff: rememberedAff() } });
        });
        if (ok) await enterConsole();
      }),
    }, t('oauth.wechat')));
  }
  if (passkeysSupported()) {
    buttons.push(h('button.btn.block', {
      type: 'button',
      dataset: { t: 'passkey-login' },
      onclick: run(async () => {
        await passkeySignIn();
        await enterConsole();
      }),
    }, t('passkey.sign_in')));
  }
  if (!buttons.length) return null;
  return h('div.sign-in-options', h('p.or', t('oauth.or')), buttons, error);
}

// ---- The pages the providers redirect back to.

const providerName = (p) => ({ github: 'GitHub', lark: t('oauth.lark_name'), oidc: 'OIDC' })[p] || p;
/** The callbacks this page load has sent, as their pending answers: a state is single use, so a
 *  re-render (a language switch) waits for the same answer instead of sending it again. */
const handled = new Map();

/** Sends the provider's code and state once; resolves with what happened. */
async function exchange(provider) {
  const q = new URLSearchParams(location.search);
  const params = { code: q.get('code') || '', state: q.get('state') || '' };
  if (provider !== 'lark') params.aff = rememberedAff();
  try {
    const r = await call('GET', `/api/oauth/${provider}`, { params });
    if (r.message === 'bind') return { bound: true };
    session.user = await get('/api/user/self');
    return { signedIn: true };
  } catch (err) {
    return { error: err.message || String(err) };
  }
}

export const callback = {
  async render(el) {
    const provider = location.pathname.split('/').filter(Boolean).pop();
    const name = providerName(provider);
    const status = h('p', { dataset: { t: 'oauth-status' } }, t('oauth.working', { name }));
    const card = h('section.card.narrow', status);
    mount(el, card);
    const key = location.pathname + location.search;
    if (!handled.has(key)) handled.set(key, exchange(provider));
    const here = location.pathname + location.search;
    const r = await handled.get(key);
    // Another render (or a navigation) took over meanwhile: it shows the answer.
    if (!card.isConnected || location.pathname + location.search !== here) return;
    if (r.bound) {
      toast(t('oauth.bound', { name }));
      navigate('/panel/profile', { replace: true });
    } else if (r.signedIn) {
      navigate('/panel/dashboard', { replace: true });
    } else {
      status.textContent = r.error;
      status.classList.add('form-error');
      status.dataset.t = 'oauth-error';
      card.append(h('div.actions', h('a.btn', { href: session.user ? '/panel/profile' : '/login' }, session.user ? t('nav.profile') : t('login.submit'))));
    }
  },
};
