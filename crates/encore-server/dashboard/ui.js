// Small DOM helpers shared by the pages: element building, tables with paging, confirmation,
// status messages and number formatting. No inline styles or scripts (the CSP forbids them).

/** Builds an element: el('p', {class: 'x'}, 'text', child, …). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `node`. */
export function setContent(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return el('section', { class: 'card', 'aria-labelledby': id }, el('h2', { id }, title), ...children);
}

/** Shows a message in the live region (errors stay until the next message). */
export function status(message, kind = 'info') {
  const node = document.getElementById('status');
  node.className = `status ${kind}`;
  node.textContent = message;
  if (kind !== 'error') {
    clearTimeout(status.timer);
    status.timer = setTimeout(() => { node.textContent = ''; node.className = 'status'; }, 5000);
  }
}

/** An error box for a failed call. */
export function errorBox(error) {
  return el('p', { class: 'error', role: 'alert' }, error && error.message ? error.message : String(error));
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
export function confirmAction(title, text, okLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/**
 * A table of `rows` with `columns` ([{label, value: row => node|text, class}]) shown `pageSize`
 * rows at a time, with previous/next buttons: a long list never builds more than one page.
 */
export function pagedTable(caption, columns, rows, pageSize = 25, rowClass = () => null) {
  const wrap = el('div', { class: 'table-wrap' });
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const render = () => {
    const slice = rows.slice(page * pageSize, (page + 1) * pageSize);
    const table = el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', class: c.class }, c.label)))),
      el('tbody', {}, slice.length ? slice.map((row) => el('tr', { class: rowClass(row) }, columns.map((c) => el(c.header ? 'th' : 'td', { class: c.class, scope: c.header ? 'row' : null }, c.value(row)))))
        : el('tr', {}, el('td', { colspan: columns.length, class: 'empty' }, 'Nothing to show.'))));
    const nav = rows.length > pageSize ? el('div', { class: 'pager' },
      el('button', { type: 'button', class: 'secondary', disabled: page === 0, onclick: () => { page -= 1; render(); } }, 'Previous'),
      el('span', {}, `Page ${page + 1} of ${pages} (${fmtInt(rows.length)} rows)`),
      el('button', { type: 'button', class: 'secondary', disabled: page >= pages - 1, onclick: () => { page += 1; render(); } }, 'Next')) : null;
    setContent(wrap, table, nav);
  };
  render();
  return wrap;
}

/** A label + control pair. */
export function field(label, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return el('div', { class: 'field' }, el('label', { for: id }, label), control, help ? el('small', {}, help) : null);
}

/** A <select> of options ([value, label] or value). */
export function select(options, value, attrs = {}) {
  const node = el('select', attrs, options.map((o) => {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    return el('option', { value: v, selected: String(v) === String(value) }, l);
  }));
  return node;
}

export function fmtInt(n) {
  return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US');
}

export function fmtNum(x, digits = 4) {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(digits);
}

export function fmtPct(x, digits = 1) {
  return x === null || x === undefined ? '–' : `${(100 * x).toFixed(digits)} %`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
  return `${v.toFixed(u ? 1 : 0)} ${units[u]}`;
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 90) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
