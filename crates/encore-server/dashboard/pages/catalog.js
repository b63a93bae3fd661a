// Catalog: the popularity long tail (head vs tail share), the catalogue coverage of the active
// model's recommendations, and item search with take-down and availability (writer keys).

import { get, put, del, catalogPath, query } from '../api.js';
import { el, section, setContent, field, status, confirmAction, errorBox, fmtInt, fmtPct } from '../ui.js';
import { lineChart } from '../charts.js';

const PAGE = 25;

export async function render(root, ctx) {
  if (!ctx.catalog) {
    root.append(el('p', {}, 'No catalog yet.'));
    return;
  }
  const tail = el('div');
  const coverage = el('div', {}, el('p', {}, 'Measuring…'));
  const search = el('div');
  root.append(section(`Popularity long tail · ${ctx.catalog}`, tail), section('Catalogue coverage of recommendations', coverage), section('Items', search));
  searchPanel(search, ctx);
  await Promise.all([
    popularity(tail, ctx),
    get(catalogPath(ctx.catalog, `/stats/coverage${query({ k: 10, users: 500 })}`)).then((c) => setContent(coverage,
      el('p', { class: 'big' }, fmtPct(c.coverage)),
      el('p', {}, `${c.model_version ? `The active model ${c.model_version}` : 'Without an active model, the popular list'}: the top-${c.k} lists of ${fmtInt(c.users_sampled)} of ${fmtInt(c.users)} users (spread evenly) reach ${fmtInt(c.items_recommended)} of the catalog's ${fmtInt(c.items)} items.`)))
      .catch((e) => setContent(coverage, errorBox(e))),
  ]);
}

async function popularity(node, ctx) {
  const p = await get(catalogPath(ctx.catalog, '/stats/popularity'));
  const headPct = p.items_with_events ? p.head_items / p.items_with_events : 0;
  setContent(node,
    el('p', {}, `${fmtInt(p.items_with_events)} items have ${fmtInt(p.events)} events. The head — the most played ${fmtInt(p.head_items)} items (${fmtPct(headPct, 0)}) — has `,
      el('strong', {}, fmtPct(p.head_share)), ' of the events; the tail has ', el('strong', {}, fmtPct(p.events ? 1 - p.head_share : 0)), '.'),
    el('div', { class: 'charts' },
      lineChart({
        title: 'Events per item by popularity rank (log–log)',
        summary: p.curve.length ? `Rank 1 has ${fmtInt(p.curve[0].events)} events; rank ${fmtInt(p.curve[p.curve.length - 1].rank)} has ${fmtInt(p.curve[p.curve.length - 1].events)}.` : 'No events.',
        series: [{ name: 'events', points: p.curve.map((c) => [c.rank, c.events]) }],
        x: { label: 'rank', log: true, format: fmtInt }, y: { label: 'events', log: true, format: fmtInt },
      }),
      lineChart({
        title: 'Cumulative share of events',
        summary: `The head holds ${fmtPct(p.head_share)} of the events.`,
        series: [
          { name: 'share of events', points: p.curve.map((c) => [c.rank / Math.max(1, p.items_with_events), c.cumulative_share]) },
          { name: 'head boundary', points: [[headPct, 0], [headPct, 1]], cls: 's3' },
        ],
        x: { label: 'share of items, most played first', min: 0, max: 1, format: (v) => fmtPct(v, 0) }, y: { min: 0, max: 1, format: (v) => fmtPct(v, 0) },
      })),
    el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, 'Most played items'),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Item'), el('th', { scope: 'col' }, 'Title'), el('th', { scope: 'col', class: 'num' }, 'Events'))),
      el('tbody', {}, p.top.map((t) => el('tr', {}, el('td', {}, t.item_id), el('td', {}, t.title || '(no metadata)'), el('td', { class: 'num' }, fmtInt(t.events))))))));
}

function searchPanel(node, ctx) {
  const input = el('input', { type: 'search', name: 'q', placeholder: 'id prefix or part of the title', autocomplete: 'off', maxlength: 256 });
  const form = el('form', { class: 'inline-form', role: 'search', 'aria-label': 'Search items' },
    field('Search items', input), el('button', { type: 'submit' }, 'Search'));
  const results = el('div');
  const cursors = [0];
  let page = 0;
  const load = async () => {
    const r = await get(catalogPath(ctx.catalog, `/items${query({ q: input.value.trim(), after: cursors[page] || undefined, limit: PAGE })}`));
    if (r.next_after !== null && r.next_after !== undefined) cursors[page + 1] = r.next_after;
    const next = r.next_after !== null && r.next_after !== undefined;
    setContent(results, el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, `Page ${page + 1}: ${r.items.length} item${r.items.length === 1 ? '' : 's'}${input.value.trim() ? ` matching “${input.value.trim()}”` : ''}`),
      el('thead', {}, el('tr', {}, ['Item', 'Title', 'Kind', 'Tags', 'Available', ctx.canWrite ? 'Actions' : null].filter(Boolean).map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, r.items.length ? r.items.map((item) => el('tr', {},
        el('td', {}, item.item_id), el('td', {}, item.title), el('td', {}, item.kind), el('td', { class: 'small' }, item.tags.join(', ')),
        el('td', {}, item.available ? 'yes' : 'no'),
        ctx.canWrite ? el('td', { class: 'actions' },
          el('button', { type: 'button', class: 'secondary', onclick: () => setAvailable(ctx, item, !item.available, load) }, item.available ? `Mark ${item.item_id} unavailable` : `Mark ${item.item_id} available`),
          el('button', { type: 'button', class: 'danger', onclick: () => takeDown(ctx, item, load) }, `Take ${item.item_id} down`)) : null))
        : el('tr', {}, el('td', { colspan: ctx.canWrite ? 6 : 5, class: 'empty' }, 'No matching item.'))))),
    el('div', { class: 'pager' },
      el('button', { type: 'button', class: 'secondary', disabled: page === 0, onclick: () => { page -= 1; load().catch(fail); } }, 'Previous page'),
      el('button', { type: 'button', class: 'secondary', disabled: !next, onclick: () => { page += 1; load().catch(fail); } }, 'Next page')));
  };
  const fail = (e) => setContent(results, errorBox(e));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    cursors.length = 1;
    page = 0;
    load().catch(fail);
  });
  setContent(node, form, results, el('p', { class: 'help' }, 'Unavailable items are left out of recommendations unless a request includes them; a taken-down item disappears from every list and lookup at once (its events stay; putting the item back restores it).'));
  load().catch(fail);
}

async function setAvailable(ctx, item, available, reload) {
  try {
    const fields = { title: item.title, kind: item.kind, tags: item.tags, available };
    if (item.released) fields.released = item.released;
    await put(catalogPath(ctx.catalog, `/items/${encodeURIComponent(item.item_id)}`), fields);
    status(`${item.item_id} is now ${available ? 'available' : 'unavailable'}.`, 'ok');
  } catch (e) {
    status(`Could not change ${item.item_id}: ${e.message}`, 'error');
  }
  await reload();
}

async function takeDown(ctx, item, reload) {
  const ok = await confirmAction(`Take ${item.item_id} down?`, `“${item.title}” disappears from every recommendation, similar list and lookup at once. Its events stay; putting the item back (PUT) restores it.`, 'Take it down');
  if (!ok) return;
  try {
    await del(catalogPath(ctx.catalog, `/items/${encodeURIComponent(item.item_id)}`));
    status(`${item.item_id} was taken down.`, 'ok');
  } catch (e) {
    status(`Could not take ${item.item_id} down: ${e.message}`, 'error');
  }
  await reload();
}
