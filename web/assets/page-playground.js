// Playground (操练场): send a chat to a model with one of your tokens and watch the answer
// stream in. The request goes to this node's relay (`/v1/chat/completions`) with the token's
// key, so it is billed and logged like any other.

import { get } from './api.js';
import { h, mount, field, select, toast } from './dom.js';
import { t } from './i18n.js';

async function models(key) {
  const r = await fetch('/v1/models', { headers: { Authorization: `Bearer ${key}` } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const j = await r.json();
  return (j.data || []).map((m) => m.id).sort();
}

/** Reads an OpenAI stream, calling `onText` with each piece of content. */
async function stream(resp, onText) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return;
      try {
        const j = JSON.parse(data);
        const piece = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
        if (piece) onText(piece);
      } catch {
        // Not JSON: a comment or keep-alive.
      }
    }
  }
}

export async function render(el) {
  const [playKey, list] = await Promise.all([
    get('/api/token/playground').catch(() => ''),
    get('/api/token/', { size: 100 }).catch(() => ({ data: [] })),
  ]);
  const tokens = [
    ...(playKey ? [[`sk-${playKey}`, 'sys_playground']] : []),
    ...(list.data || []).filter((tk) => tk.status === 1 && tk.name !== 'sys_playground').map((tk) => [`sk-${tk.key}`, tk.name]),
  ];
  if (!tokens.length) {
    mount(el, h('p.empty', t('play.no_token')));
    return;
  }
  const tokenSel = select(tokens.map(([k, n]) => [k, n]), tokens[0][0], { dataset: { t: 'play-token' } });
  const modelSel = h('select', { dataset: { t: 'play-model' } });
  const prompt = h('textarea', { rows: 4, placeholder: t('play.placeholder'), dataset: { t: 'play-prompt' } });
  const answer = h('div.answer', { dataset: { t: 'play-answer' }, 'aria-live': 'polite' });
  const send = h('button.btn.primary', { type: 'submit', dataset: { t: 'play-send' } }, t('play.send'));
  const loadModels = async () => {
    try {
      const ms = await models(tokenSel.value);
      mount(modelSel, ms.map((m) => h('option', { value: m }, m)));
    } catch (e) {
      mount(modelSel);
      toast(e.message, 'error');
    }
  };
  tokenSel.addEventListener('change', loadModels);
  mount(el, h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      if (!modelSel.value || !prompt.value.trim()) return;
      send.disabled = true;
      answer.textContent = '';
      answer.classList.remove('error-text');
      try {
        const resp = await fetch('/v1/chat/completions', {
          method: 'POST',
          headers: { Authorization: `Bearer ${tokenSel.value}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ model: modelSel.value, stream: true, messages: [{ role: 'user', content: prompt.value }] }),
        });
        if (!resp.ok) {
          const j = await resp.json().catch(() => null);
          throw new Error((j && j.error && j.error.message) || `HTTP ${resp.status}`);
        }
        await stream(resp, (piece) => { answer.textContent += piece; });
      } catch (err) {
        answer.textContent = err.message;
        answer.classList.add('error-text');
      } finally {
        send.disabled = false;
      }
    },
  },
  h('div.form-grid', field(t('play.token'), tokenSel), field(t('play.model'), modelSel)),
  field(t('play.prompt'), prompt),
  h('div.actions', send),
  h('h2', t('play.answer')),
  answer));
  await loadModels();
}
