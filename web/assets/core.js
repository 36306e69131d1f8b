// What every page shares: the signed-in user, the node's public status, quota display and
// navigation. Pages import this module, never app.js (the modules form no cycle).

export const session = {
  /** `/api/status` data. */
  status: {},
  /** `/api/user/self` data, or null when signed out. */
  user: null,
};

export const ROLE = { user: 1, admin: 10, root: 100 };

export function role() {
  return session.user ? session.user.role : 0;
}

/** Quota as One Hub shows it: `$` amounts when DisplayInCurrencyEnabled, else the number. */
export function quota(q, digits = 2) {
  const s = session.status;
  const n = Number(q) || 0;
  if (s.display_in_currency && s.quota_per_unit > 0) {
    const v = n / s.quota_per_unit;
    const shown = v.toFixed(digits);
    return Number(shown) === 0 && n > 0 ? `$${v.toPrecision(2)}` : `$${shown}`;
  }
  return number(n);
}

/** Quota typed by a user in the unit shown (amount or raw) → raw quota. */
export function quotaFromInput(v) {
  const s = session.status;
  const n = Number(v) || 0;
  return s.display_in_currency && s.quota_per_unit > 0 ? Math.round(n * s.quota_per_unit) : Math.round(n);
}

/** Raw quota → the value an input shows. */
export function quotaToInput(q) {
  const s = session.status;
  return s.display_in_currency && s.quota_per_unit > 0 ? +(q / s.quota_per_unit).toFixed(6) : q;
}

export function number(n) {
  n = Number(n) || 0;
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export const NAVIGATE = 'onehub:navigate';

/** Goes to a console path through the History API. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new Event(NAVIGATE));
}

/**
 * The calendar day (`YYYY-MM-DD`) of a time in milliseconds, in the node's time zone (`TZ`, the
 * one its statistics count days in; `/api/status` gives its UTC offset), not the browser's.
 */
export function nodeDay(ms) {
  const off = Number.isFinite(session.status.utc_offset) ? session.status.utc_offset : -new Date(ms).getTimezoneOffset() * 60;
  const d = new Date(ms + off * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`;
}

/** The first millisecond of the node's calendar day holding `ms`. */
export function nodeDayStart(ms) {
  const off = Number.isFinite(session.status.utc_offset) ? session.status.utc_offset : -new Date(ms).getTimezoneOffset() * 60;
  const local = ms + off * 1000;
  return local - (((local % 86400000) + 86400000) % 86400000) - off * 1000;
}
