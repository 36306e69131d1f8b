// The console's entry: loads the node's status and the signed-in user, draws the layout with
// the navigation the user's role allows, and routes `/panel/...` paths with the History API.

import { get, SIGNED_OUT } from './api.js';
import { session, role, ROLE, navigate, NAVIGATE } from './core.js';
import { h, mount, toast } from './dom.js';
import { t, lang, setLang, LANGS } from './i18n.js';
import * as login from './page-login.js';
import * as dashboard from './page-dashboard.js';
import * as tokens from './page-tokens.js';
import * as channels from './page-channels.js';
import * as logs from './page-logs.js';
import * as settings from './page-settings.js';
import * as fleet from './page-fleet.js';
import * as users from './page-users.js';
import * as groups from './page-groups.js';
import * as profile from './page-profile.js';
import * as prices from './page-prices.js';
import * as analytics from './page-analytics.js';
import * as playground from './page-playground.js';
import * as pricelist from './page-pricelist.js';
import * as signup from './page-signup.js';
import * as oauth from './page-oauth.js';
import { midjourney, task } from './page-tasks.js';
import * as redemption from './page-redemption.js';
import * as topup from './page-topup.js';
import * as payment from './page-payment.js';

/** The pages: path, title key, the role that sees it, and the module that renders it. */
const PAGES = [
  { path: '/panel/dashboard', title: 'nav.dashboard', min: ROLE.user, page: dashboard },
  { path: '/panel/analytics', title: 'nav.analytics', min: ROLE.admin, page: analytics },
  { path: '/panel/channel', title: 'nav.channel', min: ROLE.admin, page: channels },
  { path: '/panel/token', title: 'nav.token', min: ROLE.user, page: tokens },
  { path: '/panel/log', title: 'nav.log', min: ROLE.user, page: logs },
  { path: '/panel/midjourney', title: 'nav.midjourney', min: ROLE.user, page: midjourney },
  { path: '/panel/task', title: 'nav.task', min: ROLE.user, page: task },
  { path: '/panel/playground', title: 'nav.playground', min: ROLE.user, page: playground },
  { path: '/panel/topup', title: 'nav.topup', min: ROLE.user, page: topup },
  { path: '/panel/user', title: 'nav.user', min: ROLE.admin, page: users },
  { path: '/panel/user_group', title: 'nav.user_group', min: ROLE.admin, page: groups },
  { path: '/panel/pricing', title: 'nav.pricing', min: ROLE.admin, page: prices },
  { path: '/panel/redemption', title: 'nav.redemption', min: ROLE.admin, page: redemption },
  { path: '/panel/payment', title: 'nav.payment', min: ROLE.admin, page: payment },
  { path: '/panel/fleet', title: 'nav.fleet', min: ROLE.admin, page: fleet },
  { path: '/panel/profile', title: 'nav.profile', min: ROLE.user, page: profile },
  { path: '/panel/setting', title: 'nav.setting', min: ROLE.root, page: settings },
];

/** Pages open to everyone, signed in or not. */
const PUBLIC = [
  { path: '/price', title: 'nav.price_list', page: pricelist },
  { path: '/register', title: 'signup.title', page: signup.register },
  { path: '/reset', title: 'reset.title', page: signup.resetRequest },
  { path: '/user/reset', title: 'reset.confirm_title', page: signup.resetConfirm },
  { path: '/oauth/github', title: 'oauth.title', page: oauth.callback },
  { path: '/oauth/lark', title: 'oauth.title', page: oauth.callback },
  { path: '/oauth/oidc', title: 'oauth.title', page: oauth.callback },
];

const root = document.getElementById('app');
let rendering = 0;

async function loadStatus() {
  try {
    session.status = await get('/api/status');
  } catch {
    session.status = {};
  }
}

async function loadUser() {
  try {
    session.user = await get('/api/user/self');
  } catch {
    session.user = null;
  }
}

function home() {
  return session.user ? '/panel/dashboard' : '/login';
}

function langSwitch() {
  return h('select.lang', {
    'aria-label': t('common.language'),
    dataset: { t: 'lang' },
    onchange: (e) => { setLang(e.target.value); render(); },
  }, LANGS.map(([v, label]) => h('option', { value: v, selected: v === lang() }, label)));
}

async function signOut() {
  try {
    await get('/api/user/logout');
  } catch {
    // Signed out already.
  }
  session.user = null;
  navigate('/login');
}

function layout(current, content) {
  const nav = PAGES.filter((p) => role() >= p.min).map((p) =>
    h('a.nav-item' + (p === current ? '.active' : ''), {
      href: p.path,
      dataset: { t: `nav-${p.path.split('/').pop()}` },
      'aria-current': p === current ? 'page' : null,
    }, t(p.title)));
  const u = session.user;
  return h('div.shell',
    h('header.top',
      h('a.brand', { href: '/panel/dashboard' }, h('img', { src: document.querySelector('link[rel=icon]').getAttribute('href'), alt: '' }), session.status.system_name || 'One Hub'),
      h('div.spacer'),
      h('a.btn.small.ghost', { href: '/price', dataset: { t: 'nav-price' } }, t('nav.price_list')),
      langSwitch(),
      h('span.who', { dataset: { t: 'who' } }, u.display_name || u.username),
      h('button.btn.small', { onclick: signOut, dataset: { t: 'sign-out' } }, t('nav.signout'))),
    h('nav.side', nav),
    h('main.content', { dataset: { page: current.path } }, h('h1', t(current.title)), content));
}

async function render() {
  const ticket = ++rendering;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  const open = PUBLIC.find((p) => p.path === path);
  if (open) {
    document.title = `${t(open.title)} · ${session.status.system_name || 'One Hub'}`;
    const content = h('div.page');
    mount(root, h('div.public',
      h('header.top',
        h('a.brand', { href: '/' }, h('img', { src: document.querySelector('link[rel=icon]').getAttribute('href'), alt: '' }), session.status.system_name || 'One Hub'),
        h('div.spacer'),
        langSwitch(),
        h('a.btn.small', { href: session.user ? '/panel/dashboard' : '/login', dataset: { t: 'public-enter' } }, session.user ? t('nav.dashboard') : t('login.submit'))),
      h('main.content', h('h1', t(open.title)), content)));
    try {
      await open.page.render(content);
    } catch (e) {
      if (ticket === rendering) toast(e.message || String(e), 'error');
    }
    return;
  }
  if (path === '/login' || !session.user) {
    if (session.user) return navigate('/panel/dashboard', { replace: true });
    if (path !== '/login') return navigate('/login', { replace: true });
    document.title = `${t('login.title')} · ${session.status.system_name || 'One Hub'}`;
    mount(root, h('div.login-page', h('div.login-lang', h('a.btn.small.ghost', { href: '/price' }, t('nav.price_list')), langSwitch()), login.render({ onSignedIn })));
    return;
  }
  const current = PAGES.find((p) => p.path === path);
  if (!current || role() < current.min) return navigate(home(), { replace: true });
  document.title = `${t(current.title)} · ${session.status.system_name || 'One Hub'}`;
  const content = h('div.page');
  mount(root, layout(current, content));
  try {
    await current.page.render(content);
  } catch (e) {
    if (ticket === rendering) toast(e.message || String(e), 'error');
  }
}

async function onSignedIn() {
  await loadUser();
  navigate('/panel/dashboard');
}

// Links inside the console navigate without reloading.
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[href^="/"]');
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const href = a.getAttribute('href');
  if (href.startsWith('/api/') || href.startsWith('/assets/')) return;
  e.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', render);
window.addEventListener(NAVIGATE, render);
window.addEventListener(SIGNED_OUT, () => {
  if (!session.user) return;
  session.user = null;
  toast(t('login.expired'), 'error');
  navigate('/login');
});

(async () => {
  await Promise.all([loadStatus(), loadUser()]);
  root.classList.remove('boot');
  await render();
})();
