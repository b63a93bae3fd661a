// User inspector: a user's stored history (admin), their recommendations with the `because`
// explanations rendered with titles, the same for a history typed in, the user's data as a
// download, and erasure with a confirmation and the receipt (admin).

import { get, post, del, catalogPath, ApiError } from '../api.js';
import { el, section, setContent, field, status, confirmAction, errorBox, pagedTable, fmtInt, fmtTime } from '../ui.js';

const HISTORY_PAGE = 20;

export async function render(root, ctx) {
  if (!ctx.catalog) {
    root.append(el('p', {}, 'No catalog yet.'));
    return;
  }
  const input = el('input', { type: 'text', name: 'user', required: true, autocomplete: 'off', value: ctx.params.get('user') || '' });
  const form = el('form', { class: 'inline-form', 'aria-label': 'Inspect a user' }, field('User id', input), el('button', { type: 'submit' }, 'Inspect'));
  const userBox = el('div');
  const adhocText = el('textarea', { name: 'history', rows: 3, placeholder: 'item ids separated by commas, spaces or lines' });
  const adhocForm = el('form', { class: 'stack-form', 'aria-label': 'Recommend for a history' }, field('History (item ids)', adhocText), el('button', { type: 'submit' }, 'Recommend for this history'));
  const adhocBox = el('div');
  root.append(section(`User · ${ctx.catalog}`, form, userBox), section('Ad-hoc history', adhocForm, adhocBox));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = input.value.trim();
    if (user) ctx.go('inspector', { user });
  });
  adhocForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const items = adhocText.value.split(/[\s,]+/).filter(Boolean);
    if (!items.length) return;
    setContent(adhocBox, el('p', {}, 'Scoring…'));
    try {
      const r = await post(catalogPath(ctx.catalog, '/recommend'), { history: items.map((item_id) => ({ item_id })), n: 10, explain: true });
      setContent(adhocBox, recommendations(r, `For a history of ${items.length} item${items.length === 1 ? '' : 's'}`));
    } catch (e) {
      setContent(adhocBox, errorBox(e));
    }
  });
  const user = ctx.params.get('user');
  if (user) await inspect(userBox, ctx, user);
}

async function inspect(node, ctx, user) {
  const history = el('div');
  const recs = el('div', {}, el('p', {}, 'Scoring…'));
  const actions = el('div', { class: 'actions' });
  setContent(node, actions, el('div', { class: 'two-col' }, el('div', {}, el('h3', {}, 'History'), history), el('div', {}, el('h3', {}, 'Recommendations'), recs)));
  const tasks = [
    post(catalogPath(ctx.catalog, '/recommend'), { user_id: user, n: 10, explain: true })
      .then((r) => setContent(recs, recommendations(r, `For ${user}`)))
      .catch((e) => setContent(recs, errorBox(e))),
  ];
  if (!ctx.isAdmin) {
    setContent(history, el('p', { class: 'notice' }, 'A user\'s stored data, its export and erasure need an admin key.'));
  } else {
    tasks.push(userHistory(history, actions, ctx, user));
  }
  await Promise.all(tasks);
}

async function userHistory(node, actions, ctx, user) {
  let data;
  try {
    data = await get(catalogPath(ctx.catalog, `/users/${encodeURIComponent(user)}`));
  } catch (e) {
    setContent(node, e instanceof ApiError && e.status === 404 ? el('p', {}, `No stored data for ${user} (never seen, or erased).`) : errorBox(e));
    return;
  }
  const events = [...data.events].sort((a, b) => b.timestamp - a.timestamp);
  // A page at a time: a user with thousands of events never builds more than one page of rows.
  setContent(node, pagedTable(`${fmtInt(events.length)} events, newest first`, [
    { label: 'Item', value: (e) => e.item_id },
    { label: 'Title', value: (e) => e.title || '(no metadata)' },
    { label: 'Weight', value: (e) => e.weight, class: 'num' },
    { label: 'When', value: (e) => fmtTime(e.timestamp * 1000) },
  ], events, HISTORY_PAGE));
  setContent(actions,
    el('button', { type: 'button', class: 'secondary', onclick: () => exportData(ctx, user) }, `Export ${user}'s data`),
    el('button', { type: 'button', class: 'danger', onclick: () => erase(ctx, user, events.length) }, `Erase ${user}`));
}

function recommendations(r, heading) {
  return el('div', {},
    el('p', { class: 'help' }, `${heading}: source `, el('strong', {}, r.source), r.model_version ? `, model ${r.model_version}` : ', no model (popular items)'),
    r.recommendations.length ? el('ol', { class: 'recs' }, r.recommendations.map((rec) => el('li', {},
      el('div', {}, el('strong', {}, rec.title || rec.item_id), ` (${rec.item_id}${rec.kind ? `, ${rec.kind}` : ''}) · score ${rec.score.toFixed(3)}`),
      rec.because && rec.because.length ? el('div', { class: 'because' }, 'because of ',
        rec.because.map((b, i) => [i ? ', ' : '', el('span', { class: 'because-item' }, b.title || b.item_id), ` (${b.contribution >= 0 ? '+' : ''}${b.contribution.toFixed(3)})`])) : null)))
      : el('p', {}, 'Nothing to recommend.'));
}

async function exportData(ctx, user) {
  try {
    const data = await get(catalogPath(ctx.catalog, `/users/${encodeURIComponent(user)}`));
    const blob = new Blob([JSON.stringify({ catalog: ctx.catalog, exported_unix_ms: Date.now(), ...data }, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `${ctx.catalog}-${user}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status(`Exported ${data.events.length} events of ${user}.`, 'ok');
  } catch (e) {
    status(`Could not export: ${e.message}`, 'error');
  }
}

async function erase(ctx, user, events) {
  const ok = await confirmAction(`Erase ${user}?`,
    `This deletes ${user}'s ${fmtInt(events)} events from ${ctx.catalog}, removes the user from every stored and loaded model and drops cached results. It cannot be undone.`,
    `Erase ${user}`);
  if (!ok) return;
  try {
    const receipt = await del(catalogPath(ctx.catalog, `/users/${encodeURIComponent(user)}`));
    const page = document.getElementById('page');
    const box = el('section', { class: 'card receipt', 'aria-labelledby': 'receipt-title', id: 'receipt' },
      el('h2', { id: 'receipt-title' }, `Erasure receipt · ${receipt.user_id}`),
      el('dl', {}, Object.entries(receipt).flatMap(([k, v]) => [el('dt', {}, k.replace(/_/g, ' ')), el('dd', {}, String(v))])),
      el('p', { class: 'help' }, `${user} now gets non-personalised (popular) recommendations.`));
    setContent(page.querySelector('.page-body'), box);
    box.focus();
    status(`${user} was erased: ${receipt.events_removed} events removed, ${receipt.models_rewritten} model files rewritten.`, 'ok');
  } catch (e) {
    status(`Could not erase ${user}: ${e.message}`, 'error');
  }
}
