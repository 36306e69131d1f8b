// Small DOM helpers. Every page builds its elements with `h`, which sets text with
// `textContent` (never HTML), so no value from the API is ever parsed as markup.

import { t } from './i18n.js';

/** h('div.card#x', {onclick, dataset, ...attrs}, ...children): an element. */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  // The second argument is a child unless it is a plain object of attributes (0 and '' too
  // are children).
  if (attrs !== undefined && attrs !== null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let toastBox;
/** A short message at the bottom of the screen; `kind` is 'ok' or 'error'. */
export function toast(message, kind = 'ok') {
  if (!toastBox) {
    toastBox = h('div.toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const el = h(`div.toast.${kind}`, { dataset: { t: 'toast' } }, message);
  // At most three at once: the oldest goes first.
  while (toastBox.children.length >= 3) toastBox.firstChild.remove();
  toastBox.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}

/** A modal dialog; resolves with what `onSubmit` returns, or null when cancelled. */
export function dialog(title, body, { submit = t('common.save'), danger = false, onSubmit, wide = false } = {}) {
  return new Promise((resolve) => {
    const d = h('dialog.modal' + (wide ? '.wide' : ''), { dataset: { t: 'dialog' } });
    const error = h('p.form-error', { hidden: true });
    const ok = h('button.btn' + (danger ? '.danger' : '.primary'), { type: 'submit', dataset: { t: 'dialog-submit' } }, submit);
    const cancel = h('button.btn', { type: 'button', dataset: { t: 'dialog-cancel' } }, t('common.cancel'));
    const form = h('form', { method: 'dialog' }, h('h2', title), h('div.modal-body', body), error, h('div.actions', cancel, ok));
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      d.close();
      d.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => finish(null));
    d.addEventListener('cancel', (e) => { e.preventDefault(); finish(null); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      ok.disabled = true;
      error.hidden = true;
      try {
        const v = onSubmit ? await onSubmit() : true;
        finish(v === undefined ? true : v);
      } catch (err) {
        error.textContent = err.message || String(err);
        error.hidden = false;
      } finally {
        ok.disabled = false;
      }
    });
    d.append(form);
    document.body.append(d);
    d.showModal();
    const first = d.querySelector('input,select,textarea');
    if (first) first.focus();
  });
}

/** Asks before a destructive action; resolves true when confirmed. */
export async function confirmAction(message, action = t('common.delete')) {
  const r = await dialog(t('common.confirm'), h('p', message), { submit: action, danger: true });
  return r === true;
}

/** A labelled form field around an input, select or textarea. */
export function field(label, input, hint) {
  return h('label.field', h('span.label', label), input, hint ? h('small.hint', hint) : null);
}

/** A select with [value, label] options. */
export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, l]) => h('option', { value: v, selected: String(v) === String(value) }, l)));
}

/** Unix seconds → local date and time. */
export function fmtTime(ts) {
  if (!ts || ts <= 0) return '—';
  const d = new Date(ts * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A table: columns are [header, row => cell] pairs. */
export function table(columns, rows, { empty = t('common.empty'), rowAttrs } = {}) {
  return h('div.table-wrap', h('table',
    h('thead', h('tr', columns.map(([head]) => h('th', head)))),
    h('tbody', rows.length
      ? rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : null, columns.map(([, cell]) => h('td', cell(r)))))
      : h('tr', h('td.empty', { colspan: columns.length }, empty)))));
}

/** Page navigation under a list: One Hub's page/size/total_count. */
export function pager({ page, size, total_count: total }, go) {
  const pages = Math.max(1, Math.ceil((total || 0) / (size || 10)));
  return h('div.pager',
    h('button.btn.small', { disabled: page <= 1, onclick: () => go(page - 1) }, '‹'),
    h('span', t('common.page', { page, pages, total: total || 0 })),
    h('button.btn.small', { disabled: page >= pages, onclick: () => go(page + 1) }, '›'));
}

/** A status pill. */
export function pill(text, kind) {
  return h(`span.pill.${kind}`, text);
}

/** Copies text; falls back to selecting it when the clipboard is not available. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('common.copied'));
    return true;
  } catch {
    await dialog(t('common.copy'), h('input.copy-box', { value: text, readonly: true, onfocus: (e) => e.target.select() }), { submit: t('common.close') });
    return false;
  }
}
