// Overview: readiness, the catalogs with their counts and active models, events over time, and
// this server's request rate and latency over the last hour.

import { get, catalogPath, query, ApiError } from '../api.js';
import { el, section, setContent, errorBox, select, field, fmtInt, fmtNum } from '../ui.js';
import { lineChart } from '../charts.js';

const hhmm = (secs) => new Date(secs * 1000).toISOString().slice(11, 16);
const day = (secs) => new Date(secs * 1000).toISOString().slice(5, 10);

export async function render(root, ctx) {
  const ready = el('div');
  const catalogs = el('div');
  const events = el('div');
  const traffic = el('div');
  root.append(
    section('Readiness', ready),
    section('Catalogs', catalogs),
    section(`Events over time${ctx.catalog ? ` · ${ctx.catalog}` : ''}`, events),
    section('Requests over the last hour', traffic),
  );
  await Promise.all([
    readiness(ready),
    catalogTable(catalogs, ctx),
    ctx.catalog ? eventsChart(events, ctx) : setContent(events, el('p', {}, 'No catalog yet.')),
    ctx.isGlobal ? trafficCharts(traffic) : setContent(traffic, el('p', { class: 'notice' },
      'The server-wide request metrics need a key for all catalogs.')),
  ]);
  if (ctx.isGlobal) ctx.every(10000, () => ctx.stillHere() && trafficCharts(traffic).catch(() => {}));
}

async function readiness(node) {
  try {
    const r = await get('/readyz');
    setContent(node, el('p', { class: 'ok-text' }, el('strong', {}, 'Ready'), ': every active model is loaded.'),
      el('ul', { class: 'plain' }, r.catalogs.map((c) => el('li', {}, `${c.catalog}: active ${c.active_model || 'none'}, loaded ${c.loaded_model || 'none'}`,
        c.candidates_precomputed !== null && c.candidates_precomputed !== undefined ? `, candidates precomputed ${fmtNum(100 * c.candidates_precomputed, 0)} %` : ''))));
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) {
      setContent(node, el('p', { class: 'warn-text' }, el('strong', {}, 'Not ready'), `: ${e.problem.detail}`));
    } else {
      setContent(node, errorBox(e));
    }
  }
}

async function catalogTable(node, ctx) {
  const list = ctx.isGlobal ? (await get('/v1/catalogs')).catalogs : [await get(catalogPath(ctx.catalog))];
  setContent(node, el('div', { class: 'table-wrap' }, el('table', {},
    el('caption', {}, `${list.length} catalog${list.length === 1 ? '' : 's'}`),
    el('thead', {}, el('tr', {}, ['Catalog', 'Users', 'Items', 'Events', 'Active model'].map((h, i) => el('th', { scope: 'col', class: i && i < 4 ? 'num' : null }, h)))),
    el('tbody', {}, list.map((c) => el('tr', {},
      el('th', { scope: 'row' }, c.name),
      el('td', { class: 'num' }, fmtInt(c.users)),
      el('td', { class: 'num' }, fmtInt(c.items)),
      el('td', { class: 'num' }, fmtInt(c.events)),
      el('td', {}, c.active_model || 'none')))))));
}

async function eventsChart(node, ctx) {
  const bucket = select([['hour', 'per hour'], ['day', 'per day']], ctx.params.get('bucket') || 'hour');
  const chart = el('div');
  const draw = async () => {
    const t = await get(catalogPath(ctx.catalog, `/stats/events${query({ bucket: bucket.value, limit: bucket.value === 'day' ? 90 : 168 })}`));
    const points = t.buckets.map((b) => [b.start, b.events]);
    const total = t.buckets.reduce((a, b) => a + b.events, 0);
    setContent(chart, lineChart({
      title: `Events ${bucket.value === 'day' ? 'per day' : 'per hour'}`,
      summary: `${fmtInt(total)} events in ${t.buckets.length} buckets${t.earlier_events ? `, ${fmtInt(t.earlier_events)} earlier` : ''}.`,
      series: [{ name: 'events', points }],
      x: { format: bucket.value === 'day' ? day : (v) => `${day(v)} ${hhmm(v)}` },
      y: { label: 'events', format: fmtInt },
    }), el('p', { class: 'help' }, `An event's time is its timestamp, else when it was ingested. ${fmtInt(total)} events shown`,
      t.earlier_events ? `; ${fmtInt(t.earlier_events)} are older than the first bucket.` : '.'));
  };
  bucket.addEventListener('change', () => draw().catch((e) => setContent(chart, errorBox(e))));
  setContent(node, field('Buckets', bucket), chart);
  await draw();
}

async function trafficCharts(node) {
  const h = await get('/v1/metrics/history');
  const m = h.minutes;
  const rate = m.map((x) => [x.start, x.requests / x.seconds]);
  const errors = m.map((x) => [x.start, (x.client_errors + x.server_errors) / x.seconds]);
  const total = m.reduce((a, x) => a + x.requests, 0);
  const last = [...m].reverse().find((x) => x.requests > 0);
  setContent(node,
    el('div', { class: 'charts' },
      lineChart({
        title: 'Request rate (per second, by minute)',
        summary: `${fmtInt(total)} requests in the last hour.`,
        series: [{ name: 'requests/s', points: rate }, { name: 'errors/s (4xx + 5xx)', points: errors, cls: 's3' }],
        x: { format: hhmm }, y: { label: 'req/s', format: (v) => fmtNum(v, v < 10 ? 2 : 0) },
      }),
      lineChart({
        title: 'Latency percentiles (ms, by minute)',
        summary: last ? `Latest minute with requests: p50 ${fmtNum(last.p50_ms, 2)} ms, p95 ${fmtNum(last.p95_ms, 2)} ms, p99 ${fmtNum(last.p99_ms, 2)} ms.` : 'No requests yet.',
        series: [
          { name: 'p50', points: m.map((x) => [x.start, x.p50_ms]) },
          { name: 'p95', points: m.map((x) => [x.start, x.p95_ms]), cls: 's2' },
          { name: 'p99', points: m.map((x) => [x.start, x.p99_ms]), cls: 's3' },
        ],
        x: { format: hhmm }, y: { label: 'ms', format: (v) => fmtNum(v, v < 10 ? 2 : 0) },
      })),
    el('p', { class: 'help' }, 'Every request this server answered (the dashboard\'s own included), kept in memory: a restart starts a new hour. Percentiles are the upper bound of 19 %-wide latency buckets.'));
}
