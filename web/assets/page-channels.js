// Channels (渠道): list with search, filters and tags; create and edit with the fields each
// type needs; test, balance, enable/disable, delete (confirmed). The list answers keys blank,
// and the editor never puts a stored key on the page: an empty key field keeps it.

import { get, post, put, del, call } from './api.js';
import { quota } from './core.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, select, fmtTime, toast } from './dom.js';
import { t, lang } from './i18n.js';
import { TYPES, typeName, typeInfo } from './channel-types.js';

const state = { page: 1, size: 20, name: '', type: '', status: '', group: '', tag: '', filter_tag: '' };

function tr(pair) {
  return pair ? pair[lang() === 'zh' ? 0 : 1] : '';
}

function statusPill(s) {
  return { 1: pill(t('channel.status1'), 'ok'), 2: pill(t('channel.status2'), 'off'), 3: pill(t('channel.status3'), 'warn') }[s] || pill(String(s), 'off');
}

function jsonOrEmpty(text, what) {
  const v = text.trim();
  if (!v) return '';
  try {
    return JSON.stringify(JSON.parse(v));
  } catch {
    throw new Error(t('channel.bad_json', { what }));
  }
}

async function editor(id, groups) {
  const ch = id ? await get(`/api/channel/${id}`) : {
    type: 1, name: '', key: '', base_url: '', other: '', models: '', group: 'default', model_mapping: '', priority: 0, weight: 1,
    test_model: '', tag: '', proxy: '', only_chat: false, compatible_response: false, pre_cost: 1, custom_parameter: '', model_headers: '',
  };
  // The stored key stays in memory only, to be sent back unchanged when the field is left empty.
  const storedKey = id ? ch.key : '';
  const typeSel = select(TYPES.map(([v, n]) => [v, `${n} (${v})`]), ch.type, { dataset: { t: 'channel-type' } });
  const name = h('input', { value: ch.name, required: true, dataset: { t: 'channel-name' } });
  const keyBox = h('div.key-box');
  const baseUrl = h('input', { value: ch.base_url || '', dataset: { t: 'channel-base-url' } });
  const otherBox = h('div');
  const models = h('textarea', { rows: 3, required: true, dataset: { t: 'channel-models' } }, ch.models);
  const fetchModels = h('button.btn.small', { type: 'button' }, t('channel.fetch_models'));
  const groupSet = new Set((ch.group || 'default').split(',').filter(Boolean));
  const groupChecks = groups.map((g) => h('label.check', h('input', { type: 'checkbox', value: g, checked: groupSet.has(g) }), g));
  const mapping = h('textarea', { rows: 2, placeholder: '{"gpt-4": "gpt-4o"}' }, ch.model_mapping || '');
  const priority = h('input', { type: 'number', value: ch.priority || 0 });
  const weight = h('input', { type: 'number', min: 0, value: ch.weight === null || ch.weight === undefined ? 1 : ch.weight });
  const testModel = h('input', { value: ch.test_model || '', placeholder: 'gpt-4o-mini', dataset: { t: 'channel-test-model' } });
  const tag = h('input', { value: ch.tag || '' });
  const proxy = h('input', { value: ch.proxy || '', placeholder: 'http://… / socks5://…' });
  const headers = h('textarea', { rows: 2, placeholder: '{"X-Header": "value"}' }, ch.model_headers || '');
  const custom = h('textarea', { rows: 2, placeholder: '{"temperature": 0.2}' }, ch.custom_parameter || '');
  const onlyChat = h('input', { type: 'checkbox', checked: !!ch.only_chat });
  const compat = h('input', { type: 'checkbox', checked: !!ch.compatible_response });
  let keyInputs = [];
  let otherInputs = [];
  const drawType = () => {
    const info = typeInfo(Number(typeSel.value));
    baseUrl.placeholder = info.base || t('channel.base_required');
    baseUrl.required = !info.base;
    const keepHint = id ? t('channel.key_keep') : '';
    if (info.parts) {
      keyInputs = info.parts.map((p) => h('input', { placeholder: p.replace('?', ` (${t('common.optional')})`), 'aria-label': p, dataset: { t: `channel-key-${p.replace('?', '')}` } }));
      mount(keyBox, field(t('channel.key'), h('div.parts', keyInputs), [tr(info.note), keepHint].filter(Boolean).join(' ')));
    } else {
      keyInputs = [h('textarea', {
        rows: info.json ? 6 : 3,
        placeholder: tr(info.key) || t('channel.key_placeholder'),
        dataset: { t: 'channel-key' },
      })];
      mount(keyBox, field(t('channel.key'), keyInputs[0], [info.json ? '' : t('channel.key_lines'), tr(info.note), keepHint].filter(Boolean).join(' ')));
    }
    if (info.otherParts) {
      const cur = (ch.type === Number(typeSel.value) ? ch.other || '' : '').split('|');
      otherInputs = info.otherParts.map((p, i) => h('input', { placeholder: p, 'aria-label': p, value: cur[i] || '' }));
      mount(otherBox, field(t('channel.other'), h('div.parts', otherInputs)));
    } else if (info.other) {
      otherInputs = [h('input', { placeholder: tr(info.other), value: ch.type === Number(typeSel.value) ? ch.other || '' : '' })];
      mount(otherBox, field(t('channel.other'), otherInputs[0], tr(info.other)));
    } else {
      otherInputs = [];
      mount(otherBox);
    }
  };
  typeSel.addEventListener('change', drawType);
  drawType();
  const keyValue = () => {
    const info = typeInfo(Number(typeSel.value));
    if (info.parts) {
      const vals = keyInputs.map((i) => i.value.trim());
      if (vals.every((v) => !v)) return '';
      const need = info.parts.filter((p) => !p.endsWith('?')).length;
      if (vals.slice(0, need).some((v) => !v) && !(Number(typeSel.value) === 32 && vals[0] && vals[1] && !vals[2])) {
        throw new Error(t('channel.key_parts', { parts: info.parts.join(' | ') }));
      }
      while (vals.length && !vals[vals.length - 1]) vals.pop();
      return vals.join('|');
    }
    const v = keyInputs[0].value.trim();
    if (info.json && v) {
      try {
        return JSON.stringify(JSON.parse(v));
      } catch {
        throw new Error(t('channel.bad_json', { what: t('channel.key') }));
      }
    }
    return v;
  };
  fetchModels.addEventListener('click', async () => {
    try {
      const key = keyValue() || storedKey;
      const r = await post('/api/channel/provider_models_list', { ...ch, id: id || 0, type: Number(typeSel.value), key, base_url: baseUrl.value.trim(), other: otherInputs.map((i) => i.value.trim()).join('|') });
      if (Array.isArray(r.data) && r.data.length) {
        models.value = r.data.join(',');
        toast(t('channel.models_fetched', { n: r.data.length }));
      }
    } catch (e) { toast(e.message, 'error'); }
  });
  const body = h('div.form-grid',
    field(t('channel.type'), typeSel),
    field(t('channel.name'), name),
    h('div.wide', keyBox),
    field(t('channel.base_url'), baseUrl),
    otherBox,
    h('div.field.wide', h('span.label', t('channel.models')), models, h('div.row-actions', fetchModels, h('small.hint', t('channel.models_hint')))),
    h('div.field.wide', h('span.label', t('channel.groups')), h('div.checks', groupChecks)),
    field(t('channel.mapping'), mapping, t('channel.mapping_hint')),
    field(t('channel.test_model'), testModel),
    field(t('channel.priority'), priority),
    field(t('channel.weight'), weight),
    field(t('channel.tag'), tag),
    field(t('channel.proxy'), proxy),
    h('details.wide', h('summary', t('channel.advanced')), h('div.form-grid',
      field(t('channel.headers'), headers),
      field(t('channel.custom'), custom),
      h('label.check', onlyChat, t('channel.only_chat')),
      h('label.check', compat, t('channel.compatible')))));
  return dialog(id ? t('channel.edit') : t('channel.create'), body, {
    wide: true,
    onSubmit: async () => {
      const type = Number(typeSel.value);
      const key = keyValue();
      if (!id && !key) throw new Error(t('channel.key_required'));
      const info = typeInfo(type);
      if (!info.base && !baseUrl.value.trim() && ![24].includes(type)) throw new Error(t('channel.base_required'));
      const group = groupChecks.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      if (!group.length) throw new Error(t('channel.group_required'));
      const list = models.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
      if (!list.length) throw new Error(t('channel.models_required'));
      const payload = {
        ...ch,
        type,
        name: name.value.trim(),
        key: key || storedKey,
        base_url: baseUrl.value.trim(),
        other: otherInputs.map((i) => i.value.trim()).join('|').replace(/^\|$/, ''),
        models: [...new Set(list)].join(','),
        group: group.join(','),
        model_mapping: jsonOrEmpty(mapping.value, t('channel.mapping')),
        model_headers: jsonOrEmpty(headers.value, t('channel.headers')),
        custom_parameter: jsonOrEmpty(custom.value, t('channel.custom')),
        priority: Number(priority.value) || 0,
        weight: Math.max(0, Number(weight.value) || 0),
        test_model: testModel.value.trim(),
        tag: tag.value.trim(),
        proxy: proxy.value.trim(),
        only_chat: onlyChat.checked,
        compatible_response: compat.checked,
      };
      if (id) await put('/api/channel/', payload);
      else await post('/api/channel/', payload);
      return true;
    },
  });
}

export async function render(el) {
  const [groups, tags] = await Promise.all([
    get('/api/group/').catch(() => ['default']),
    get('/api/channel_tag/_all').catch(() => []),
  ]);
  const listBox = h('div');
  const reload = () => load().catch((e) => toast(e.message, 'error'));
  const act = (fn, okMsg) => async () => {
    try {
      const r = await fn();
      toast(okMsg(r));
      await load();
    } catch (e) { toast(e.message, 'error'); }
  };
  const selected = new Set();
  const batchBox = h('div.row-actions');
  const drawBatch = () => {
    mount(batchBox, selected.size ? [
      h('span.muted', t('channel.selected', { n: selected.size })),
      h('button.btn.small', {
        dataset: { t: 'channel-batch-model' },
        onclick: async () => {
          const model = h('input', { required: true, dataset: { t: 'batch-model' } });
          const ok = await dialog(t('channel.batch_del_model'), field(t('channel.models'), model, t('channel.batch_del_model_hint', { n: selected.size })), {
            submit: t('common.delete'),
            danger: true,
            onSubmit: async () => {
              if (!model.value.trim()) throw new Error(t('channel.models_required'));
              await put('/api/channel/batch/del_model', { value: model.value.trim(), ids: [...selected] });
              return true;
            },
          });
          if (ok) { toast(t('common.saved')); reload(); }
        },
      }, t('channel.batch_del_model')),
      h('button.btn.small.danger', {
        dataset: { t: 'channel-batch-delete' },
        onclick: async () => {
          if (!(await confirmAction(t('channel.confirm_batch_delete', { n: selected.size })))) return;
          try {
            const r = await call('DELETE', '/api/channel/batch', { body: { value: 'delete', ids: [...selected] } });
            toast(t('channel.deleted_n', { n: r.data }));
            selected.clear();
            await load();
          } catch (e) { toast(e.message, 'error'); }
        },
      }, t('channel.batch_delete')),
    ] : null);
  };
  const load = async () => {
    drawBatch();
    const data = await get('/api/channel/', { page: state.page, size: state.size, name: state.name, type: state.type, status: state.status, group: state.group, tag: state.tag, filter_tag: state.filter_tag });
    const rows = data.data || [];
    mount(listBox,
      table([
        ['', (r) => h('input', {
          type: 'checkbox',
          checked: selected.has(r.id),
          'aria-label': `#${r.id}`,
          dataset: { t: 'channel-select' },
          onchange: (e) => { if (e.target.checked) selected.add(r.id); else selected.delete(r.id); drawBatch(); },
        })],
        ['ID', (r) => r.id],
        [t('channel.name'), (r) => h('span', { dataset: { t: 'channel-row-name' } }, r.name, r.tag ? h('span.tag', r.tag) : null)],
        [t('channel.type'), (r) => typeName(r.type)],
        [t('common.status'), (r) => h('span.row-actions', statusPill(r.status),
          r.served === false ? h('span.pill.bad', { title: r.not_served_reason || '' }, t('channel.unserved')) : null,
          (r.health || []).length ? h('span.pill.warn', {
            title: r.health.map((x) => `${x.model || t('channel.whole')}: ${x.reason}`).join('\n'),
            dataset: { t: 'channel-health' },
          }, t('channel.taken_out', { n: r.health.length })) : null)],
        [t('channel.groups'), (r) => r.group],
        [t('channel.models'), (r) => h('span.models', { title: r.models }, r.models.split(',').slice(0, 3).join(', ') + (r.models.split(',').length > 3 ? ' …' : ''))],
        [t('channel.priority'), (r) => `${r.priority || 0} / ${r.weight ?? 1}`],
        [t('channel.response'), (r) => (r.test_time ? h('span', { title: fmtTime(r.test_time) }, `${(r.response_time / 1000).toFixed(2)} s`) : '—')],
        [t('channel.balance'), (r) => (r.balance_updated_time ? `$${Number(r.balance).toFixed(2)}` : '—')],
        [t('channel.used'), (r) => quota(r.used_quota)],
        [t('common.actions'), (r) => h('div.row-actions',
          h('button.btn.small', { dataset: { t: 'channel-test' }, onclick: act(() => call('GET', `/api/channel/test/${r.id}`), (x) => `${x.message} (${Number(x.time || 0).toFixed(2)} s)`) }, t('channel.test')),
          h('button.btn.small', { dataset: { t: 'channel-balance' }, onclick: act(() => call('GET', `/api/channel/update_balance/${r.id}`), (x) => `${t('channel.balance')}: ${x.balance ?? ''}`) }, t('channel.balance')),
          h('button.btn.small', { dataset: { t: 'channel-toggle' }, onclick: act(() => put('/api/channel/', { id: r.id, status: r.status === 1 ? 2 : 1 }), () => t('common.saved')) }, r.status === 1 ? t('common.disable') : t('common.enable')),
          h('button.btn.small', { dataset: { t: 'channel-edit' }, onclick: async () => { try { if (await editor(r.id, groups)) { toast(t('common.saved')); await load(); } } catch (e) { toast(e.message, 'error'); } } }, t('common.edit')),
          h('button.btn.small.danger', {
            dataset: { t: 'channel-delete' },
            onclick: async () => {
              if (await confirmAction(t('channel.confirm_delete', { name: r.name }))) await act(() => del(`/api/channel/${r.id}`), () => t('common.deleted'))();
            },
          }, t('common.delete')))],
      ], rows, { rowAttrs: () => ({ dataset: { t: 'channel-row' } }) }),
      pager(data, (p) => { state.page = p; reload(); }));
  };
  const name = h('input.search', { type: 'search', placeholder: t('channel.search'), value: state.name, dataset: { t: 'channel-search' } });
  const typeF = select([['', t('channel.all_types')], ...TYPES.map(([v, n]) => [v, n])], state.type);
  const statusF = select([['', t('channel.all_status')], [1, t('channel.status1')], [2, t('channel.status2')], [3, t('channel.status3')]], state.status);
  const groupF = select([['', t('channel.all_groups')], ...groups.map((g) => [g, g])], state.group);
  const tagF = select([['', t('channel.all_tags')], ...(tags || []).map((g) => [g, g])], state.tag);
  const tagMode = select([['', t('channel.tag_mode0')], [1, t('channel.tag_mode1')], [2, t('channel.tag_mode2')]], state.filter_tag);
  const apply = (e) => {
    if (e) e.preventDefault();
    Object.assign(state, { page: 1, name: name.value.trim(), type: typeF.value, status: statusF.value, group: groupF.value, tag: tagF.value, filter_tag: tagMode.value });
    reload();
  };
  [typeF, statusF, groupF, tagF, tagMode].forEach((s) => s.addEventListener('change', apply));
  mount(el,
    h('div.toolbar',
      h('form.inline', { onsubmit: apply }, name, h('button.btn', { type: 'submit' }, t('common.search'))),
      typeF, statusF, groupF, tagF, tagMode,
      h('div.spacer'),
      h('button.btn', { onclick: act(() => call('GET', '/api/channel/test'), (x) => x.message || t('channel.test_all_started')) }, t('channel.test_all')),
      h('button.btn.danger', {
        onclick: async () => {
          if (await confirmAction(t('channel.confirm_delete_disabled'))) await act(() => del('/api/channel/disabled'), (x) => t('channel.deleted_n', { n: x.data }))();
        },
      }, t('channel.delete_disabled')),
      h('button.btn.primary', {
        dataset: { t: 'channel-new' },
        onclick: async () => { try { if (await editor(null, groups)) { toast(t('common.created_ok')); await load(); } } catch (e) { toast(e.message, 'error'); } },
      }, t('channel.create'))),
    batchBox,
    listBox);
  await load();
}
