// Keys and audit (admin keys for all catalogs): API keys — create (the secret is shown once),
// revoke — and the audit log with filters, a page at a time.

import { get, post, del, query } from '../api.js';
import { el, section, setContent, field, select, status, confirmAction, errorBox, pagedTable, fmtTime } from '../ui.js';

const AUDIT_PAGE = 50;

export async function render(root, ctx) {
  const keys = el('div');
  const audit = el('div');
  root.append(section('API keys', keys), section('Audit log', audit));
  await Promise.all([keyPanel(keys, ctx), auditPanel(audit, ctx)]);
}

async function keyPanel(node, ctx) {
  const name = el('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const role = select(['reader', 'writer', 'admin'], 'reader', { name: 'role' });
  const scope = select([['', 'every catalog'], ...ctx.catalogs], '', { name: 'catalog' });
  const form = el('form', { class: 'inline-form', 'aria-label': 'Create a key' }, field('Name', name), field('Role', role), field('Catalog', scope), el('button', { type: 'submit' }, 'Create key'));
  const secret = el('div', { 'aria-live': 'polite' });
  const list = el('div');
  const load = async () => {
    const { keys } = await get('/v1/keys');
    setContent(list, pagedTable(`${keys.length} keys (revoked ones included)`, [
      { label: 'Id', class: 'num', value: (k) => k.id },
      { label: 'Name', value: (k) => k.name },
      { label: 'Role', value: (k) => k.role },
      { label: 'Catalog', value: (k) => k.catalog || 'every catalog' },
      { label: 'Prefix', value: (k) => el('code', {}, k.prefix) },
      { label: 'Created', value: (k) => fmtTime(k.created_ms) },
      { label: 'Revoked', value: (k) => (k.revoked_ms ? fmtTime(k.revoked_ms) : '–') },
      { label: '', value: (k) => (k.id === ctx.me.key_id ? 'this key' : k.revoked_ms ? ''
        : el('button', { type: 'button', class: 'danger', onclick: () => revoke(k, load) }, `Revoke ${k.name}`)) },
    ], keys, 25, (k) => (k.revoked_ms ? 'revoked' : null)));
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const body = { name: name.value.trim(), role: role.value };
      if (scope.value) body.catalog = scope.value;
      const created = await post('/v1/keys', body);
      name.value = '';
      setContent(secret, el('div', { class: 'secret', role: 'alert' },
        el('p', {}, el('strong', {}, `Key “${created.name}” created.`), ' Copy the secret now: it is shown only this once (the server keeps only its hash).'),
        el('label', { for: 'new-secret' }, 'Secret'),
        el('input', { id: 'new-secret', type: 'text', readonly: true, value: created.secret }),
        el('button', { type: 'button', class: 'secondary', onclick: () => setContent(secret) }, 'I have copied it — hide')));
      document.getElementById('new-secret').select();
      await load();
    } catch (e) {
      status(`Could not create the key: ${e.message}`, 'error');
    }
  });
  setContent(node, form, secret, list);
  await load();
}

async function revoke(key, reload) {
  const ok = await confirmAction(`Revoke ${key.name}?`, `Key #${key.id} (${key.role}${key.catalog ? `, ${key.catalog}` : ''}, ${key.prefix}…) is refused from the next request on. This cannot be undone.`, `Revoke ${key.name}`);
  if (!ok) return;
  try {
    await del(`/v1/keys/${key.id}`);
    status(`${key.name} was revoked.`, 'ok');
  } catch (e) {
    status(`Could not revoke: ${e.message}`, 'error');
  }
  await reload();
}

function toMs(value) {
  return value ? Date.parse(`${value}:00Z`) : undefined;
}

async function auditPanel(node) {
  const action = el('input', { name: 'action', placeholder: 'user.erase', autocomplete: 'off' });
  const keyId = el('input', { name: 'key_id', type: 'number', min: 0, step: 1 });
  const target = el('input', { name: 'target', placeholder: '/v1/catalogs/music', autocomplete: 'off' });
  const since = el('input', { name: 'since', type: 'datetime-local' });
  const until = el('input', { name: 'until', type: 'datetime-local' });
  const form = el('form', { class: 'inline-form', 'aria-label': 'Filter the audit log' },
    field('Action', action), field('Key id', keyId), field('Target starts with', target),
    field('Since (UTC)', since), field('Until (UTC)', until), el('button', { type: 'submit' }, 'Filter'));
  const results = el('div');
  const cursors = [0];
  let page = 0;
  const load = async () => {
    const r = await get(`/v1/audit${query({ action: action.value.trim(), key_id: keyId.value, target: target.value.trim(), since_ms: toMs(since.value), until_ms: toMs(until.value), after: cursors[page] || undefined, limit: AUDIT_PAGE })}`);
    const next = r.next_after !== undefined && r.next_after !== null;
    if (next) cursors[page + 1] = r.next_after;
    setContent(results, el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, `Page ${page + 1}: ${r.entries.length} entries, oldest first`),
      el('thead', {}, el('tr', {}, ['#', 'When', 'Key', 'Action', 'Target', 'Outcome', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, r.entries.length ? r.entries.map((e) => el('tr', {},
        el('td', { class: 'num' }, e.seq), el('td', {}, fmtTime(e.time_ms)), el('td', {}, e.key_name ? `${e.key_name} (#${e.key_id})` : 'server'),
        el('td', {}, e.action), el('td', { class: 'small' }, e.target), el('td', {}, e.outcome),
        el('td', { class: 'small' }, e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : '')))
        : el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No matching entry.'))))),
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
  setContent(node, form, results);
  await load();
}
