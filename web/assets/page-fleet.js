// The fleet (节点): every node's role, configuration version, last sync, lag, push channel
// and last error, from the reports the nodes write to the database every few seconds
// (`GET /api/sync/nodes`). A node whose report is older than the limit is shown as gone.

import { get } from './api.js';
import { h, mount, table, pill, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';

let timer = null;

function ago(now, ts) {
  if (!ts) return '—';
  const s = Math.max(0, now - ts);
  if (s < 60) return t('fleet.seconds_ago', { n: s });
  if (s < 3600) return t('fleet.minutes_ago', { n: Math.floor(s / 60) });
  return fmtTime(ts);
}

function health(n, latest) {
  if (n.gone) return pill(t('fleet.gone'), 'off');
  if (n.last_error) return pill(t('fleet.failing'), 'bad');
  if (!n.ready) return pill(t('fleet.starting'), 'warn');
  if (n.config_version < latest) return pill(t('fleet.behind'), 'warn');
  return pill(t('fleet.current'), 'ok');
}

export async function render(el) {
  const box = h('div');
  const draw = async () => {
    const data = await get('/api/sync/nodes');
    const nodes = data.nodes || [];
    const live = nodes.filter((n) => !n.gone);
    const latest = Math.max(data.db_version || 0, ...live.map((n) => n.config_version || 0));
    const current = live.filter((n) => !n.last_error && n.ready && n.config_version >= latest).length;
    mount(box,
      h('div.stats',
        h('div.stat', { dataset: { t: 'fleet-summary' } }, h('span.stat-label', t('fleet.current_nodes')), h('strong.stat-value', `${current} / ${live.length}`)),
        h('div.stat', h('span.stat-label', t('fleet.db_version')), h('strong.stat-value', String(data.db_version ?? '—'))),
        h('div.stat', h('span.stat-label', t('fleet.gone_nodes')), h('strong.stat-value', String(nodes.length - live.length)))),
      table([
        [t('fleet.node'), (n) => h('span', h('strong', n.node_id), n.this_node ? h('span.tag', t('fleet.this')) : null, h('br'), h('small.muted', n.address || ''))],
        [t('fleet.role'), (n) => n.node_type],
        [t('common.status'), (n) => health(n, latest)],
        [t('fleet.config_version'), (n) => String(n.config_version)],
        [t('fleet.last_sync'), (n) => ago(data.now, n.last_sync_time)],
        [t('fleet.lag'), (n) => (n.lag_ms === null || n.lag_ms === undefined ? '—' : `${(n.lag_ms / 1000).toFixed(1)} s`)],
        [t('fleet.push'), (n) => `${n.push} · ${n.feed}`],
        [t('fleet.reported'), (n) => ago(data.now, n.reported_at)],
        [t('fleet.version'), (n) => n.version],
        [t('fleet.last_error'), (n) => (n.last_error ? h('span.error-text', n.last_error) : '—')],
      ], nodes, { rowAttrs: (n) => ({ dataset: { t: 'fleet-row', gone: n.gone ? '1' : '0' } }) }),
      h('p.muted', t('fleet.explain', { secs: data.gone_after || 0 })));
  };
  mount(el, box);
  await draw();
  clearInterval(timer);
  timer = setInterval(() => {
    if (!document.body.contains(box)) { clearInterval(timer); return; }
    draw().catch((e) => toast(e.message, 'error'));
  }, 5000);
}
