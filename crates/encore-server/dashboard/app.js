// The dashboard shell: sign-in, the page list (by the key's role and scope), the catalog picker
// and hash routing (#/page?catalog=…). Pages are modules with `render(root, ctx)`.

import { apiKey, setApiKey, clearApiKey, get, ApiError } from './api.js';
import { el, setContent, errorBox } from './ui.js';
import * as overview from './pages/overview.js';
import * as models from './pages/models.js';
import * as jobs from './pages/jobs.js';
import * as catalog from './pages/catalog.js';
import * as inspector from './pages/inspector.js';
import * as access from './pages/access.js';

const RANK = { reader: 1, writer: 2, admin: 3 };

// `needs`: the lowest role, and whether the key must be for all catalogs. The server decides
// every request on its own; this only keeps the menu to what the key can use.
const PAGES = [
  { id: 'overview', label: 'Overview', module: overview, needs: 'reader' },
  { id: 'models', label: 'Models', module: models, needs: 'admin' },
  { id: 'jobs', label: 'Training jobs', module: jobs, needs: 'admin', global: true },
  { id: 'catalog', label: 'Catalog', module: catalog, needs: 'reader' },
  { id: 'inspector', label: 'User inspector', module: inspector, needs: 'reader' },
  { id: 'access', label: 'Keys and audit', module: access, needs: 'admin', global: true },
];

const CATALOG = 'encore.catalog';
const session = { me: null, catalogs: [], timers: [] };

function allowed(page, me) {
  return RANK[me.role] >= RANK[page.needs] && (!page.global || me.catalog === null || me.catalog === undefined);
}

function parseHash() {
  const [path, q] = location.hash.replace(/^#\/?/, '').split('?');
  return { page: path || 'overview', params: new URLSearchParams(q || '') };
}

/** Sets the hash for `page` with `params` (merged with the current catalog). */
export function go(page, params = {}) {
  const q = new URLSearchParams(params);
  location.hash = `#/${page}${q.toString() ? `?${q}` : ''}`;
}

function stopTimers() {
  session.timers.forEach((t) => clearInterval(t));
  session.timers = [];
}

async function signIn(secret) {
  setApiKey(secret);
  try {
    session.me = await get('/v1/whoami');
  } catch (e) {
    clearApiKey();
    session.me = null;
    throw e;
  }
  await loadCatalogs();
}

async function loadCatalogs() {
  if (session.me.catalog) {
    session.catalogs = [session.me.catalog];
  } else {
    const list = await get('/v1/catalogs');
    session.catalogs = list.catalogs.map((c) => c.name);
  }
  const picker = document.getElementById('catalog-select');
  const current = sessionStorage.getItem(CATALOG);
  const chosen = session.catalogs.includes(current) ? current : session.catalogs[0] || '';
  sessionStorage.setItem(CATALOG, chosen);
  setContent(picker, ...session.catalogs.map((c) => el('option', { value: c, selected: c === chosen }, c)));
  picker.disabled = session.catalogs.length < 2;
}

function showSignIn(message) {
  stopTimers();
  document.getElementById('top').hidden = true;
  document.getElementById('sign-in').hidden = false;
  setContent(document.getElementById('page'));
  document.getElementById('sign-in-error').textContent = message || '';
  document.getElementById('api-key').focus();
}

function renderNav(current) {
  const nav = document.getElementById('nav');
  setContent(nav, ...PAGES.filter((p) => allowed(p, session.me)).map((p) => el('li', {},
    el('a', { href: `#/${p.id}`, 'aria-current': p.id === current ? 'page' : null }, p.label))));
  const who = document.getElementById('who');
  who.textContent = `${session.me.name} · ${session.me.role}${session.me.catalog ? ` · ${session.me.catalog} only` : ''}`;
}

// Each call of `route` is numbered; a page that finishes rendering after the user (or a test)
// has moved on must not mark the new page ready, or draw over it.
let routes = 0;

async function route() {
  if (!session.me) return;
  const generation = ++routes;
  stopTimers();
  const { page: id, params } = parseHash();
  const page = PAGES.find((p) => p.id === id) || PAGES[0];
  renderNav(page.id);
  document.getElementById('top').hidden = false;
  document.getElementById('sign-in').hidden = true;
  const root = document.getElementById('page');
  delete root.dataset.ready;
  document.title = `${page.label} · Encore dashboard`;
  if (!allowed(page, session.me)) {
    setContent(root, el('h1', {}, page.label), el('p', { class: 'notice', role: 'alert' },
      `This page needs an ${page.needs} key${page.global ? ' for all catalogs' : ''}; you are signed in with a ${session.me.role} key${session.me.catalog ? ` for ${session.me.catalog}` : ''}.`));
    root.dataset.ready = page.id;
    return;
  }
  const ctx = {
    me: session.me,
    catalogs: session.catalogs,
    catalog: sessionStorage.getItem(CATALOG) || session.catalogs[0] || null,
    params,
    isAdmin: RANK[session.me.role] >= RANK.admin,
    canWrite: RANK[session.me.role] >= RANK.writer,
    isGlobal: !session.me.catalog,
    every(ms, fn) { if (generation === routes) session.timers.push(setInterval(fn, ms)); },
    go,
    stillHere: () => parseHash().page === page.id,
  };
  setContent(root, el('h1', {}, page.label));
  const body = el('div', { class: 'page-body' });
  root.append(body);
  try {
    await page.module.render(body, ctx);
  } catch (e) {
    if (generation !== routes) return;
    if (e instanceof ApiError && e.status === 401) {
      clearApiKey();
      session.me = null;
      showSignIn('The key was refused (revoked?); sign in again.');
      return;
    }
    body.append(errorBox(e));
  }
  if (generation !== routes) return;
  root.dataset.ready = page.id;
}

function start() {
  document.getElementById('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('api-key');
    try {
      await signIn(input.value.trim());
      input.value = '';
      if (!location.hash) location.hash = '#/overview';
      await route();
    } catch (e) {
      showSignIn(e instanceof ApiError && e.status === 401 ? 'That key is not valid.' : e.message);
    }
  });
  document.getElementById('sign-out').addEventListener('click', () => {
    clearApiKey();
    session.me = null;
    showSignIn('Signed out.');
  });
  document.getElementById('catalog-select').addEventListener('change', (event) => {
    sessionStorage.setItem(CATALOG, event.target.value);
    route();
  });
  // After moving to another page, focus goes to the content (screen readers announce it).
  window.addEventListener('hashchange', () => route().then(() => document.getElementById('main').focus({ preventScroll: true })));
  if (apiKey()) {
    signIn(apiKey()).then(route).catch(() => showSignIn('Sign in again.'));
  } else {
    showSignIn();
  }
}

start();
