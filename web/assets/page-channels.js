// Channels (渠道): list with search, filters and tags; create and edit with the fields each
// type needs; test, balance, enable/disable, delete (confirmed). The list answers keys blank,
// and the editor never puts a stored key on the page: an empty key field keeps it.

import { get, post, put, del, call } from './api.js';
import { quota } from './core.js';
import { h, mount, table, pager, pill, dialog, confirmAction, field, select, fmtTime, toast } from './dom.js';
import { t, lang } from './i18n.js';
import { TYPES, typeName, typeInfo } from './channel-types.js';
import { meter } from './chart.js';

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

/** Response time as a coloured pill with a small bar (a full bar is 10 s), as One Hub colours it. */
function responsePill(r) {
  if (!r.test_time) return '—';
  const s = (r.response_time || 0) / 1000;
  const kind = r.response_time <= 0 ? 'off' : s <= 1 ? 'ok' : s <= 3 ? 'info' : s <= 5 ? 'warn' : 'bad';
  return h('span.resp', { title: `${t('tag.tested')}: ${fmtTime(r.test_time)}`, dataset: { t: 'channel-response' } },
    pill(`${s.toFixed(2)} s`, kind), meter(Math.min(1, s / 10), `${s.toFixed(2)} s`));
}

/** Health at a glance: status, taken out of routing, models the health check took out. */
function healthDot(r) {
  const bad = r.status !== 1 || r.served === false;
  const warn = !bad && (r.health || []).length > 0;
  return h(`span.dot.${bad ? 'bad' : warn ? 'warn' : 'ok'}`, { title: bad ? t('tag.health_bad') : warn ? t('tag.health_warn') : t('tag.health_ok'), dataset: { t: 'channel-dot' } });
}

/** Sets (or clears, when empty) a channel's tag. */
async function setTag(r, tags) {
  const input = h('input', { value: r.tag || '', list: 'tag-names', maxlength: 32, dataset: { t: 'tag-input' } });
  const list = h('datalist#tag-names', tags.map((x) => h('option', { value: x })));
  return dialog(t('tag.set_title', { name: r.name }), h('div', field(t('channel.tag'), input, t('tag.set_hint')), list), {
    onSubmit: async () => {
      const tag = input.value.trim();
      if (tag) await put('/api/channel/', { id: r.id, tag });
      else await del(`/api/channel/${r.id}/tag`);
      return true;
    },
  });
}

/** The editor of a whole tag: the settings its channels share, priority and weight. The keys
 * of the tag's channels stay in memory and are sent back as they are; none is shown. */
async function tagEditor(tag, groups) {
  const [one, members] = await Promise.all([get(`/api/channel_tag/${encodeURIComponent(tag)}`), get(`/api/channel_tag/${encodeURIComponent(tag)}/list`)]);
  const models = h('textarea', { rows: 3, required: true, dataset: { t: 'tag-models' } }, one.models || '');
  const groupSet = new Set((one.group || 'default').split(',').filter(Boolean));
  const groupChecks = [...new Set([...groups, ...groupSet])].map((g) => h('label.check', h('input', { type: 'checkbox', value: g, checked: groupSet.has(g) }), g));
  const mapping = h('textarea', { rows: 2, placeholder: '{"gpt-4": "gpt-4o"}' }, one.model_mapping || '');
  const testModel = h('input', { value: one.test_model || '' });
  // Priority and weight are per channel: when the channels differ the field starts empty
  // ("mixed"), and a field is written only when it was changed.
  const prios = [...new Set(members.map((c) => c.priority || 0))];
  const weights = [...new Set(members.map((c) => c.weight ?? 1))];
  const priority = h('input', { type: 'number', value: prios.length === 1 ? prios[0] : '', placeholder: prios.length > 1 ? t('tag.mixed') : null, dataset: { t: 'tag-priority' } });
  const weight = h('input', { type: 'number', min: 1, value: weights.length === 1 ? weights[0] : '', placeholder: weights.length > 1 ? t('tag.mixed') : null, dataset: { t: 'tag-weight' } });
  const p0 = priority.value;
  const w0 = weight.value;
  const body = h('div.form-grid',
    h('p.muted.wide', t('tag.editor_hint', { n: members.length })),
    field(t('channel.models'), models, t('channel.models_hint')),
    h('div.field.wide', h('span.label', t('channel.groups')), h('div.checks', groupChecks)),
    field(t('channel.mapping'), mapping, t('channel.mapping_hint')),
    field(t('channel.test_model'), testModel),
    field(t('tag.priority'), priority, t('tag.priority_hint')),
    field(t('channel.weight'), weight, t('tag.weight_hint')));
  return dialog(t('tag.edit_title', { tag }), body, {
    wide: true,
    onSubmit: async () => {
      const group = groupChecks.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      if (!group.length) throw new Error(t('channel.group_required'));
      const list = models.value.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
      if (!list.length) throw new Error(t('channel.models_required'));
      const payload = { ...one, models: [...new Set(list)].join(','), group: group.join(','), model_mapping: jsonOrEmpty(mapping.value, t('channel.mapping')), test_model: testModel.value.trim() };
      delete payload.KeyMap;
      await put(`/api/channel_tag/${encodeURIComponent(tag)}`, payload);
      if (priority.value !== '' && priority.value !== p0) {
        await put(`/api/channel_tag/${encodeURIComponent(tag)}/priority`, { type: 'priority', value: Number(priority.value) || 0 });
      }
      if (weight.value !== '' && weight.value !== w0) {
        const w = Math.max(1, Number(weight.value) || 1);
        for (const c of members) if ((c.weight ?? 1) !== w) await put('/api/channel/', { id: c.id, weight: w });
      }
      return true;
    },
  });
}

/** The tags panel: every tag with its channels, and the actions on the whole tag. */
async function tagPanel(box, groups, onChange) {
  const tags = (await get('/api/channel_tag/_all').catch(() => [])).map((x) => (typeof x === 'string' ? x : x.tag)).filter(Boolean);
  const members = await Promise.all(tags.map((g) => get(`/api/channel_tag/${encodeURIComponent(g)}/list`).catch(() => [])));
  const redraw = () => tagPanel(box, groups, onChange).then(onChange).catch((e) => toast(e.message, 'error'));
  // `onChange` gets the tags as they are after the change.
  const act = (fn, msg) => async () => {
    try { await fn(); toast(msg); await redraw(); } catch (e) { toast(e.message, 'error'); }
  };
  const rows = tags.map((tag, i) => ({ tag, list: members[i] || [] }));
  const enc = encodeURIComponent;
  mount(box, h('section.card', { dataset: { t: 'tag-panel' } },
    h('div.card-head', h('h2', t('tag.title')), h('small.hint', t('tag.panel_hint'))),
    table([
      [t('channel.tag'), (r) => h('strong', { dataset: { t: 'tag-name' } }, r.tag)],
      [t('tag.channels'), (r) => h('span', { title: r.list.map((c) => `#${c.id} ${c.name}`).join('\n') }, r.list.map((c) => h('span.tag', `#${c.id} ${c.name}`)))],
      [t('common.status'), (r) => {
        const on = r.list.filter((c) => c.status === 1).length;
        return pill(t('tag.enabled_n', { on, n: r.list.length }), on === r.list.length ? 'ok' : on ? 'warn' : 'off');
      }],
      [t('channel.priority'), (r) => [...new Set(r.list.map((c) => `${c.priority || 0} / ${c.weight ?? 1}`))].join(', ')],
      [t('channel.models'), (r) => h('span.models', { title: (r.list[0] || {}).models || '' }, ((r.list[0] || {}).models || '').split(',').slice(0, 3).join(', '))],
      [t('common.actions'), (r) => h('div.row-actions',
        h('button.btn.small', { dataset: { t: 'tag-edit' }, onclick: async () => { try { if (await tagEditor(r.tag, groups)) { toast(t('common.saved')); await redraw(); } } catch (e) { toast(e.message, 'error'); } } }, t('common.edit')),
        h('button.btn.small', {
          dataset: { t: 'tag-enable' },
          onclick: async () => { if (await confirmAction(t('tag.confirm_enable', { tag: r.tag, n: r.list.length }), t('common.enable'))) await act(() => put(`/api/channel_tag/${enc(r.tag)}/status/enable`), t('common.saved'))(); },
        }, t('common.enable')),
        h('button.btn.small', {
          dataset: { t: 'tag-disable' },
          onclick: async () => { if (await confirmAction(t('tag.confirm_disable', { tag: r.tag, n: r.list.length }), t('common.disable'))) await act(() => put(`/api/channel_tag/${enc(r.tag)}/status/disable`), t('common.saved'))(); },
        }, t('common.disable')),
        h('button.btn.small.danger', {
          dataset: { t: 'tag-delete-disabled' },
          onclick: async () => { if (await confirmAction(t('tag.confirm_delete_disabled', { tag: r.tag }))) await act(() => call('DELETE', `/api/channel_tag/${enc(r.tag)}/disabled`), t('common.deleted'))(); },
        }, t('tag.delete_disabled')),
        h('button.btn.small.danger', {
          dataset: { t: 'tag-delete' },
          onclick: async () => { if (await confirmAction(t('tag.confirm_delete', { tag: r.tag, n: r.list.length }))) await act(() => del(`/api/channel_tag/${enc(r.tag)}`), t('common.deleted'))(); },
        }, t('common.delete')))],
    ], rows, { empty: t('tag.none'), rowAttrs: () => ({ dataset: { t: 'tag-row' } }) })));
  return tags;
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
  const [groups, tagRows] = await Promise.all([
    get('/api/group/').catch(() => ['default']),
    get('/api/channel_tag/_all').catch(() => []),
  ]);
  // `_all` answers `{id, tag}` objects.
  let tags = (tagRows || []).map((x) => (typeof x === 'string' ? x : x.tag)).filter(Boolean);
  const listBox = h('div');
  const tagBox = h('div');
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
      h('button.btn.small', {
        dataset: { t: 'channel-batch-azure' },
        onclick: async () => {
          const version = h('input', { required: true, placeholder: '2024-10-21', dataset: { t: 'batch-azure-version' } });
          const ok = await dialog(t('channel.batch_azure'), field(t('channel.azure_version'), version, t('channel.batch_azure_hint', { n: selected.size })), {
            onSubmit: async () => {
              if (!version.value.trim()) throw new Error(t('channel.azure_version_required'));
              const r = await put('/api/channel/batch/azure_api', { value: version.value.trim(), ids: [...selected] });
              return r;
            },
          });
          if (ok) { toast(t('channel.updated_n', { n: ok.data ?? 0 })); reload(); }
        },
      }, t('channel.batch_azure')),
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
        [t('channel.name'), (r) => [h('span', { dataset: { t: 'channel-row-name' } }, r.name), r.tag ? h('button.tag.link', {
          type: 'button',
          title: t('tag.show_channels'),
          dataset: { t: 'channel-row-tag' },
          onclick: () => { Object.assign(state, { page: 1, tag: r.tag }); tagF.value = r.tag; reload(); },
        }, r.tag) : null]],
        [t('channel.type'), (r) => typeName(r.type)],
        [t('common.status'), (r) => h('span.row-actions.status-cell', healthDot(r), statusPill(r.status),
          r.served === false ? h('span.pill.bad', { title: r.not_served_reason || '' }, t('channel.unserved')) : null,
          (r.health || []).length ? h('span.pill.warn', {
            title: r.health.map((x) => `${x.model || t('channel.whole')}: ${x.reason}`).join('\n'),
            dataset: { t: 'channel-health' },
          }, t('channel.taken_out', { n: r.health.length })) : null)],
        [t('channel.groups'), (r) => r.group],
        [t('channel.models'), (r) => h('span.models', { title: r.models }, r.models.split(',').slice(0, 3).join(', ') + (r.models.split(',').length > 3 ? ' …' : ''))],
        [t('channel.priority'), (r) => `${r.priority || 0} / ${r.weight ?? 1}`],
        [t('channel.response'), responsePill],
        [t('channel.balance'), (r) => (r.balance_updated_time ? `$${Number(r.balance).toFixed(2)}` : '—')],
        [t('channel.used'), (r) => quota(r.used_quota)],
        [t('common.actions'), (r) => h('div.row-actions.channel-actions',
          h('button.btn.small', { dataset: { t: 'channel-test' }, onclick: act(() => call('GET', `/api/channel/test/${r.id}`), (x) => `${x.message} (${Number(x.time || 0).toFixed(2)} s)`) }, t('channel.test')),
          h('button.btn.small', { dataset: { t: 'channel-balance' }, onclick: act(() => call('GET', `/api/channel/update_balance/${r.id}`), (x) => `${t('channel.balance')}: ${x.balance ?? ''}`) }, t('channel.balance')),
          h('button.btn.small', { dataset: { t: 'channel-toggle' }, onclick: act(() => put('/api/channel/', { id: r.id, status: r.status === 1 ? 2 : 1 }), () => t('common.saved')) }, r.status === 1 ? t('common.disable') : t('common.enable')),
          h('button.btn.small', {
            dataset: { t: 'channel-set-tag' },
            onclick: async () => { try { if (await setTag(r, tags)) { toast(t('common.saved')); await refreshTags(); await load(); } } catch (e) { toast(e.message, 'error'); } },
          }, t('channel.tag')),
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
  const tagF = select([['', t('channel.all_tags')], ...tags.map((g) => [g, g])], state.tag, { dataset: { t: 'channel-tag-filter' } });
  let panelOpen = false;
  // The tag filter's options, and the tags panel when open, after a tag changed.
  const fillTagFilter = () => {
    const cur = tagF.value;
    mount(tagF, h('option', { value: '' }, t('channel.all_tags')), tags.map((g) => h('option', { value: g, selected: g === cur }, g)));
  };
  // After an action in the panel (which redraws itself with the tags now), the filter and the
  // list follow.
  const panelChanged = (now) => {
    if (Array.isArray(now)) { tags = now; fillTagFilter(); }
    return load();
  };
  const refreshTags = async () => {
    if (panelOpen) tags = await tagPanel(tagBox, groups, panelChanged);
    else tags = (await get('/api/channel_tag/_all').catch(() => [])).map((x) => (typeof x === 'string' ? x : x.tag)).filter(Boolean);
    fillTagFilter();
  };
  const tagsButton = h('button.btn', {
    dataset: { t: 'channel-tags' },
    onclick: async () => {
      panelOpen = !panelOpen;
      tagsButton.classList.toggle('primary', panelOpen);
      if (!panelOpen) { mount(tagBox); return; }
      try { await refreshTags(); } catch (e) { toast(e.message, 'error'); }
    },
  }, t('tag.manage'));
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
      tagsButton,
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
    tagBox,
    batchBox,
    listBox);
  await load();
}
