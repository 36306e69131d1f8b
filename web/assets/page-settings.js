// Settings (设置, root): the options of `/api/option/`, grouped as One Hub groups them. A
// section saves the options that changed (`PUT /api/option/`, one per key). Secret options are
// never read back: their field is write-only, and left empty keeps the stored value.

import { get, put } from './api.js';
import { session } from './core.js';
import { h, mount, field, toast } from './dom.js';
import { t, lang } from './i18n.js';

/** [key, zh, en, kind] — kind: bool, num, text, long, json (an object of numbers), secret; a
 * section may end with the key of a hint shown under its title. */
const SECTIONS = [
  ['settings.operation', [
    ['QuotaPerUnit', '单位额度（每美元）', 'Quota per unit (per US$)', 'num'],
    ['DisplayInCurrencyEnabled', '以货币形式显示额度', 'Show quota as currency', 'bool'],
    ['DisplayTokenStatEnabled', '令牌统计显示额度', 'Token stats show quota', 'bool'],
    ['QuotaForNewUser', '新用户初始额度', 'Quota for a new user', 'num'],
    ['PreConsumedQuota', '请求预扣额度', 'Quota held before a request', 'num'],
    ['QuotaRemindThreshold', '额度提醒阈值', 'Low-quota reminder threshold', 'num'],
    ['QuotaForInviter', '邀请人奖励额度', 'Quota for the inviter', 'num'],
    ['QuotaForInvitee', '被邀请人奖励额度', 'Quota for the invitee', 'num'],
    ['ApproximateTokenEnabled', '近似计算 token', 'Approximate token counting', 'bool'],
    ['LogConsumeEnabled', '记录消费日志', 'Record consume logs', 'bool'],
    ['TopUpLink', '充值链接', 'Top-up link', 'text'],
    ['ChatLink', '聊天链接', 'Chat link', 'text'],
  ]],
  ['settings.channels', [
    ['RetryTimes', '失败重试次数', 'Retries on failure', 'num'],
    ['RetryTimeOut', '重试超时（秒）', 'Retry time-out (s)', 'num'],
    ['RetryCooldownSeconds', '429 冷却（秒）', 'Cool-down after a 429 (s)', 'num'],
    ['ChannelDisableThreshold', '最长响应时间（秒）', 'Longest response time (s)', 'num'],
    ['AutomaticDisableChannelEnabled', '失败时自动禁用渠道', 'Disable a failing channel', 'bool'],
    ['AutomaticEnableChannelEnabled', '成功时自动启用渠道', 'Re-enable a channel that succeeds', 'bool'],
    ['DisableChannelKeywords', '禁用关键词（每行一个）', 'Disabling keywords (one a line)', 'long'],
    ['ClaudeAPIEnabled', '开放 Claude 接口', 'Serve the Claude API', 'bool'],
    ['GeminiAPIEnabled', '开放 Gemini 接口', 'Serve the Gemini API', 'bool'],
    ['ClaudeDefaultMaxTokens', 'Claude 默认 max_tokens (JSON)', 'Claude default max_tokens (JSON)', 'long'],
  ]],
  ['settings.system', [
    ['SystemName', '系统名称', 'System name', 'text'],
    ['ServerAddress', '服务器地址', 'Server address', 'text'],
    ['Logo', 'Logo 地址', 'Logo URL', 'text'],
    ['Footer', '页脚 HTML', 'Footer HTML', 'long'],
    ['Notice', '公告', 'Notice', 'long'],
    ['About', '关于', 'About', 'long'],
    ['HomePageContent', '首页内容', 'Home page content', 'long'],
  ]],
  ['settings.login', [
    ['PasswordLoginEnabled', '允许密码登录', 'Password sign-in', 'bool'],
    ['PasswordRegisterEnabled', '允许密码注册', 'Password sign-up', 'bool'],
    ['RegisterEnabled', '允许新用户注册', 'New users may sign up', 'bool'],
    ['EmailVerificationEnabled', '注册需邮箱验证', 'Email verification on sign-up', 'bool'],
    ['EmailDomainRestrictionEnabled', '限制邮箱域名', 'Restrict email domains', 'bool'],
    ['EmailDomainWhitelist', '允许的邮箱域名', 'Allowed email domains', 'text'],
    ['GitHubOAuthEnabled', 'GitHub 登录', 'GitHub sign-in', 'bool'],
    ['GitHubClientId', 'GitHub Client ID', 'GitHub client id', 'text'],
    ['GitHubClientSecret', 'GitHub Client Secret', 'GitHub client secret', 'secret'],
    ['OIDCAuthEnabled', 'OIDC 登录', 'OIDC sign-in', 'bool'],
    ['OIDCIssuer', 'OIDC Issuer', 'OIDC issuer', 'text'],
    ['OIDCClientId', 'OIDC Client ID', 'OIDC client id', 'text'],
    ['OIDCClientSecret', 'OIDC Client Secret', 'OIDC client secret', 'secret'],
    ['TurnstileCheckEnabled', 'Turnstile 人机验证', 'Turnstile check', 'bool'],
    ['TurnstileSiteKey', 'Turnstile Site Key', 'Turnstile site key', 'text'],
    ['TurnstileSecretKey', 'Turnstile Secret Key', 'Turnstile secret key', 'secret'],
  ]],
  ['settings.payment', [
    ['PaymentUSDRate', '美元汇率（人民币网关按此换算）', 'US$ rate (for CNY gateways)', 'num'],
    ['PaymentMinAmount', '最低充值金额（美元）', 'Smallest top-up (US$)', 'int'],
    ['RechargeDiscount', '充值优惠（JSON：金额 → 折扣系数，如 {"100": 0.95}）', 'Recharge discount (JSON: amount → factor, e.g. {"100": 0.95})', 'json'],
  ]],
  ['settings.notify', [
    ['SMTPServer', 'SMTP 服务器', 'SMTP server', 'text'],
    ['SMTPPort', 'SMTP 端口', 'SMTP port', 'num'],
    ['SMTPAccount', 'SMTP 账号', 'SMTP account', 'text'],
    ['SMTPFrom', '发件人地址', 'Sender address', 'text'],
    ['SMTPToken', 'SMTP 密码或授权码', 'SMTP password or token', 'secret'],
  ], 'settings.notify_hint'],
];

/** A `json` option's value: a JSON object of numbers, else an error. */
function checkJson(v) {
  let o;
  try {
    o = JSON.parse(v.trim() || '{}');
  } catch {
    o = null;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o) || Object.values(o).some((x) => typeof x !== 'number')) {
    throw new Error(t('settings.discount_bad'));
  }
}

function label(row) {
  return lang() === 'zh' ? row[1] : row[2];
}

function input(kind, key, value) {
  const data = { dataset: { t: `opt-${key}`, key } };
  if (kind === 'bool') return h('input', { type: 'checkbox', checked: value === 'true', ...data });
  if (kind === 'long' || kind === 'json') return h('textarea', { rows: 3, ...data }, value);
  if (kind === 'secret') return h('input', { type: 'password', autocomplete: 'new-password', placeholder: t('settings.secret_keep'), ...data });
  return h('input', { type: 'text', inputmode: kind === 'num' ? 'decimal' : kind === 'int' ? 'numeric' : null, value, ...data });
}

function valueOf(el) {
  return el.type === 'checkbox' ? String(el.checked) : el.value;
}

export async function render(el) {
  const list = await get('/api/option/');
  const values = Object.fromEntries((list || []).map((o) => [o.key, o.value]));
  const known = new Set(SECTIONS.flatMap(([, rows]) => rows.map((r) => r[0])));
  const sections = SECTIONS.map(([title, rows, hint]) => [title, rows.filter((r) => r[3] === 'secret' || r[0] in values), hint]);
  const others = Object.keys(values).filter((k) => !known.has(k)).sort().map((k) => [k, k, k, values[k].length > 60 ? 'long' : 'text']);
  if (others.length) sections.push(['settings.other', others]);
  mount(el, sections.map(([title, rows, hint]) => {
    const inputs = rows.map((r) => [r, input(r[3], r[0], values[r[0]] ?? '')]);
    const save = h('button.btn.primary', { type: 'submit', dataset: { t: `save-${title.split('.')[1]}` } }, t('common.save'));
    return h('form.card.settings', {
      onsubmit: async (e) => {
        e.preventDefault();
        save.disabled = true;
        let n = 0;
        try {
          for (const [r, i] of inputs) {
            if (r[3] === 'json') checkJson(i.value);
            // Numbers as the node reads them: a whole number for `int`, any number for `num`.
            const v = i.value.trim();
            if (v !== (values[r[0]] ?? '') && ((r[3] === 'int' && !/^\d+$/.test(v)) || (r[3] === 'num' && (v === '' || !Number.isFinite(Number(v)))))) {
              throw new Error(t(r[3] === 'int' ? 'settings.bad_int' : 'settings.bad_num', { name: label(r) }));
            }
          }
          for (const [r, i] of inputs) {
            const v = valueOf(i);
            if (r[3] === 'secret' ? v === '' : v === (values[r[0]] ?? '')) continue;
            await put('/api/option/', { key: r[0], value: v });
            if (r[3] !== 'secret') values[r[0]] = v;
            else i.value = '';
            n++;
          }
          toast(n ? t('settings.saved', { n }) : t('settings.unchanged'));
          if (n) session.status = await get('/api/status').catch(() => session.status);
        } catch (err) {
          toast(err.message, 'error');
        } finally {
          save.disabled = false;
        }
      },
    }, h('h2', t(title)),
    hint ? h('p.muted', t(hint)) : null,
    h('div.form-grid', inputs.map(([r, i]) => (r[3] === 'bool' ? h('label.check', i, label(r)) : field(label(r), i, r[0])))),
    h('div.actions', save));
  }));
}
