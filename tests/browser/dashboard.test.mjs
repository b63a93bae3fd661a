// Browser tests of the dashboard against a real `encore serve` (see scripts/browser_test.sh,
// which prepares the server and passes ENCORE_URL, ADMIN_KEY, READER_KEY, SHOTS_DIR, CHROMIUM).
// Headless Debian chromium through playwright-core; every request whose host is not the
// loopback server is aborted and fails the run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.ENCORE_URL;
const ADMIN = process.env.ADMIN_KEY;
const READER = process.env.READER_KEY;
const SHOTS = process.env.SHOTS_DIR;
const CATALOG = 'music';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser;
const outside = [];

async function api(method, path, key = ADMIN, body) {
  const init = { method, headers: { Authorization: `Bearer ${key}` } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(BASE + path, init);
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** A signed-in page at 1280 px that records console errors and any request off the machine. */
async function signedIn(key, { allow = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !allow.some((re) => re.test(m.text()))) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['127.0.0.1', 'localhost'].includes(url.hostname)) return route.continue();
    outside.push(url.href);
    return route.abort();
  });
  await page.goto(`${BASE}/dashboard/`);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#page[data-ready="overview"]');
  return { page, context, errors };
}

async function open(page, id, params = '') {
  await page.evaluate((h) => { location.hash = h; }, `#/${id}${params ? `?${params}` : ''}`);
  await page.waitForSelector(`#page[data-ready="${id}"]`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

before(async () => {
  assert.ok(BASE && ADMIN && READER && SHOTS, 'run through scripts/browser_test.sh');
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
  // Events spread over the last ten days, so the events chart has a shape (the demo's are all
  // ingested at once).
  const now = Math.floor(Date.now() / 1000);
  let seed = 7;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const events = Array.from({ length: 3000 }, (_, i) => ({
    user_id: `u${i % 400}`, item_id: `i${Math.floor(rand() * rand() * 1200)}`, timestamp: now - Math.floor(rand() * 10 * 86400),
  }));
  const r = await api('POST', `/v1/catalogs/${CATALOG}/events`, ADMIN, { events });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(outside, [], 'requests left the machine');
});

test('every page renders with its charts, without console errors or requests off the machine', async () => {
  const { page, context, errors } = await signedIn(ADMIN);
  // Overview: readiness, the catalog table, the events chart and the two traffic charts.
  await page.waitForSelector('text=Ready');
  assert.match(await page.locator('table').first().innerText(), /music/);
  assert.ok(await page.locator('figure.chart svg path.line').count() >= 3);
  await page.getByLabel('Buckets', { exact: true }).selectOption('day');
  await page.waitForSelector('figcaption:text("Events per day")');
  await shot(page, 'overview');

  await open(page, 'models');
  assert.ok(await page.locator('figure.chart svg').count() >= 1);
  assert.match(await page.locator('table').innerText(), /v1[\s\S]*ials/);
  await shot(page, 'models');

  await open(page, 'jobs');
  await page.waitForSelector('text=Training loss by epoch');
  assert.match(await page.locator('table').innerText(), /succeeded/);

  await open(page, 'catalog');
  await page.waitForSelector('.big');
  assert.match(await page.locator('.big').innerText(), /%/);
  assert.equal(await page.locator('figure.chart').count(), 2);
  assert.ok(await page.locator('figure.chart path.line').count() >= 2);
  await page.waitForSelector('text=Page 1: 25 items');
  await shot(page, 'catalog');

  await open(page, 'inspector', 'user=u1');
  await page.waitForSelector('ol.recs li');
  await page.waitForSelector('text=/\\d+ events, newest first/');
  // The history names items by title, newest first.
  const stored = (await api('GET', `/v1/catalogs/${CATALOG}/users/u1`)).body.events.sort((x, y) => y.timestamp - x.timestamp);
  const firstRow = await page.locator('table:has(caption:text("events, newest first")) tbody tr').first().locator('td').allInnerTexts();
  assert.deepEqual(firstRow.slice(0, 2), [stored[0].item_id, stored[0].title]);
  assert.ok(await page.locator('.because').count() > 0, 'recommendations carry their explanations');
  // Each `because` names the history item by its title, as the API gives it.
  const api1 = (await api('POST', `/v1/catalogs/${CATALOG}/recommend`, ADMIN, { user_id: 'u1', n: 10, explain: true })).body;
  const first = api1.recommendations[0].because[0];
  assert.ok(first.title && first.title !== first.item_id);
  const shown = await page.locator('ol.recs').first().locator('li').first().locator('.because-item').first().innerText();
  assert.equal(shown, first.title);
  assert.doesNotMatch(await page.locator('#page').innerText(), /\[object /);
  await page.getByLabel('History (item ids)', { exact: true }).fill('i1, i2, i3');
  await page.getByRole('button', { name: 'Recommend for this history' }).click();
  await page.waitForSelector('text=For a history of 3 items');
  await shot(page, 'inspector');

  await open(page, 'access');
  await page.waitForSelector('text=browser-reader');
  // A new key's secret is shown once, works, and stops working when revoked.
  await page.getByLabel('Name', { exact: true }).fill('temp-writer');
  await page.getByLabel('Role', { exact: true }).selectOption('writer');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = await page.locator('#new-secret').inputValue();
  assert.match(secret, /^ek_/);
  assert.equal((await api('GET', '/v1/whoami', secret)).body.role, 'writer');
  await page.getByRole('button', { name: 'I have copied it — hide' }).click();
  assert.equal(await page.locator('#new-secret').count(), 0, 'the secret is not shown again');
  await page.getByRole('button', { name: 'Revoke temp-writer' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke temp-writer' }).click();
  await page.waitForSelector('text=temp-writer was revoked');
  assert.equal((await api('GET', '/v1/whoami', secret)).status, 401);
  await page.waitForSelector('text=/Page 1: \\d+ entries/');
  await page.getByLabel('Action', { exact: true }).fill('user.read');
  await page.getByRole('button', { name: 'Filter' }).click();
  // The filtered page replaces the unfiltered one: only `user.read` entries, at least one.
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('#page section:last-of-type tbody tr td:nth-child(4)')].map((td) => td.textContent);
    return cells.length > 0 && cells.every((c) => c === 'user.read');
  });
  await shot(page, 'access');

  // Every form control of every page has a label, every button a name.
  for (const id of ['overview', 'models', 'jobs', 'catalog', 'inspector', 'access']) {
    await open(page, id, id === 'inspector' ? 'user=u1' : '');
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#page input, #page select, #page textarea, #page button')]
      .filter((e) => (e.tagName === 'BUTTON' ? !e.textContent.trim() : !(e.labels && e.labels.length) && !e.getAttribute('aria-label')))
      .map((e) => e.outerHTML.slice(0, 80)));
    assert.deepEqual(unlabelled, [], `${id}: controls without a label`);
  }

  // Phone width: no page scrolls sideways (wide tables scroll inside their box).
  await page.setViewportSize({ width: 390, height: 844 });
  for (const id of ['models', 'jobs', 'catalog', 'inspector', 'access', 'overview']) {
    await open(page, id, id === 'inspector' ? 'user=u1' : '');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), `${id} overflows at 390 px`);
  }
  await shot(page, 'overview-phone');

  // Keyboard: on a fresh load (the key is kept for the tab) the first Tab reaches the skip link.
  await page.reload();
  await page.waitForSelector('#page[data-ready="overview"]');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  assert.deepEqual(errors, []);
  await context.close();
});

test('training from the dashboard shows progress and a loss curve; an admin rolls back to an older version', async () => {
  const { page, context, errors } = await signedIn(ADMIN);
  await open(page, 'jobs');
  await page.getByLabel('Model', { exact: true }).selectOption('ials');
  await page.getByLabel('Parameters', { exact: true }).fill('factors=16, iterations=12');
  await page.getByLabel('Activate', { exact: true }).selectOption('always');
  await page.getByRole('button', { name: 'Start training' }).click();
  const started = await page.waitForSelector('text=/Training job #\\d+ started/');
  const id = Number((await started.innerText()).match(/#(\d+)/)[1]);
  // This job's row: the list also holds the job that trained v1, which succeeded long ago.
  await page.waitForSelector(`#page .active-row:has-text("#${id}"):has-text("succeeded")`, { timeout: 120000 });
  await page.waitForFunction(() => document.querySelectorAll('figure.chart circle.dot').length === 12);
  await shot(page, 'jobs');
  const models = (await api('GET', `/v1/catalogs/${CATALOG}/models`)).body.models;
  assert.equal(models.find((m) => m.active).version, 'v2');
  assert.ok(models.find((m) => m.version === 'v2').metrics['ndcg@10'] > 0);

  await open(page, 'models');
  assert.equal(await page.locator('figure.chart rect.bar').count(), 2);
  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('dialog').waitFor();
  assert.match(await page.getByRole('dialog').innerText(), /serve v1 instead of v2/);
  await page.getByRole('button', { name: 'Roll back v1' }).click();
  await page.waitForSelector('text=v1 is now active');
  const after = (await api('GET', `/v1/catalogs/${CATALOG}/models`)).body.models;
  assert.equal(after.find((m) => m.active).version, 'v1');
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}`)).body.active_model, 'v1');
  await page.waitForSelector('#page[data-ready="models"] tr.active-row th:text("v1")');
  await shot(page, 'models');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a running job shows live progress and time left, and is cancelled from the dashboard', async () => {
  const { page, context, errors } = await signedIn(ADMIN);
  const versions = (await api('GET', `/v1/catalogs/${CATALOG}/models`)).body.models.length;
  await open(page, 'jobs');
  await page.getByLabel('Model', { exact: true }).selectOption('bpr');
  await page.getByLabel('Parameters', { exact: true }).fill('factors=8, iterations=100000');
  await page.getByLabel('Holdout fraction', { exact: true }).fill('0');
  await page.getByRole('button', { name: 'Start training' }).click();
  const started = await page.waitForSelector('text=/Training job #\\d+ started/');
  const id = Number((await started.innerText()).match(/#(\d+)/)[1]);
  // Live: the selected row reaches `running` with an epoch count and an estimate, by polling.
  const row = page.locator('#page .active-row');
  await row.locator('text=running').waitFor({ timeout: 60000 });
  await page.waitForFunction(() => /\d+ \/ 100000/.test(document.querySelector('#page .active-row')?.innerText || ''));
  const cells = await row.locator('td').allInnerTexts();
  assert.notEqual(cells[5], '–', `time left is estimated: ${cells}`);
  await page.getByRole('button', { name: `Cancel #${id}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel the job' }).click();
  await page.waitForSelector(`text=Job #${id} cancelled`);
  await row.locator('text=cancelled').waitFor({ timeout: 30000 });
  assert.equal((await api('GET', `/v1/jobs/${id}`)).body.state, 'cancelled');
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}/models`)).body.models.length, versions, 'no model registered');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a reader key sees no admin page and cannot act', async () => {
  const { page, context, errors } = await signedIn(READER, { allow: [/status of 403/] });
  const nav = await page.locator('#nav').innerText();
  assert.match(nav, /Overview/);
  for (const admin of ['Models', 'Training jobs', 'Keys and audit']) assert.doesNotMatch(nav, new RegExp(admin));
  for (const id of ['models', 'jobs', 'access']) {
    await open(page, id);
    assert.match(await page.locator('.notice').innerText(), /needs an admin key/);
    assert.equal(await page.locator('#page table').count(), 0);
  }
  await open(page, 'catalog');
  await page.waitForSelector('text=Page 1: 25 items');
  assert.equal(await page.getByRole('button', { name: /Take .* down/ }).count(), 0);
  await open(page, 'inspector', 'user=u3');
  await page.waitForSelector('ol.recs li');
  assert.match(await page.locator('.notice').innerText(), /need an admin key/);
  // The server refuses what the page does not offer, whoever sends it.
  const statuses = await page.evaluate(async () => {
    const auth = { Authorization: `Bearer ${sessionStorage.getItem('encore.apiKey')}` };
    const calls = [
      ['POST', '/v1/catalogs/music/models/v1/activate'], ['DELETE', '/v1/catalogs/music/items/i5'],
      ['DELETE', '/v1/catalogs/music/users/u3'], ['GET', '/v1/keys'], ['GET', '/v1/catalogs/music/users/u3'],
    ];
    return Promise.all(calls.map(([method, path]) => fetch(path, { method, headers: auth }).then((r) => r.status)));
  });
  assert.deepEqual(statuses, [403, 403, 403, 403, 403]);
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}/users/u3`)).status, 200, 'u3 is still there');
  assert.deepEqual(errors, []);
  await context.close();
});

test('erasure from the inspector removes the user, after a confirmation, with a receipt', async () => {
  const before = await api('GET', `/v1/catalogs/${CATALOG}/users/u2`);
  assert.equal(before.status, 200);
  const { page, context, errors } = await signedIn(ADMIN);
  await open(page, 'inspector', 'user=u2');
  await page.waitForSelector('text=/\\d+ events, newest first/');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: "Export u2's data" }).click()]);
  assert.equal(download.suggestedFilename(), 'music-u2.json');
  // Cancelling the confirmation erases nothing.
  await page.getByRole('button', { name: 'Erase u2' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}/users/u2`)).status, 200);
  await page.getByRole('button', { name: 'Erase u2' }).click();
  assert.match(await page.getByRole('dialog').innerText(), new RegExp(`${before.body.events.length} events`));
  await page.getByRole('dialog').getByRole('button', { name: 'Erase u2' }).click();
  await page.waitForSelector('#receipt');
  const receipt = await page.locator('#receipt').innerText();
  assert.match(receipt, new RegExp(`events removed\\s+${before.body.events.length}`));
  await shot(page, 'inspector-erased');
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}/users/u2`)).status, 404);
  const recs = await api('POST', `/v1/catalogs/${CATALOG}/recommend`, ADMIN, { user_id: 'u2' });
  assert.equal(recs.body.source, 'popular');
  assert.deepEqual(errors, []);
  await context.close();
});

test('catalog search pages, and an item is marked unavailable and taken down', async () => {
  const { page, context, errors } = await signedIn(ADMIN);
  await open(page, 'catalog');
  await page.waitForSelector('text=Page 1: 25 items');
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.waitForSelector('text=Page 2: 25 items');
  await page.getByRole('searchbox', { name: 'Search items' }).fill('i77');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForSelector('text=/Page 1: \\d+ items? matching “i77”/');
  await page.getByRole('button', { name: 'Mark i77 unavailable' }).click();
  await page.waitForSelector('text=i77 is now unavailable');
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}/items/i77`)).body.available, false);
  await page.getByRole('button', { name: 'Take i77 down' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Take it down' }).click();
  await page.waitForSelector('text=i77 was taken down');
  assert.equal((await api('GET', `/v1/catalogs/${CATALOG}/items/i77`)).status, 404);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a key scoped to one catalog sees that catalog only, as the API decides', async () => {
  assert.equal((await api('POST', '/v1/catalogs', ADMIN, { name: 'films' })).status, 201);
  const items = Array.from({ length: 30 }, (_, i) => ({ item_id: `f${i}`, title: `Film ${i}`, kind: 'film', tags: ['drama'], available: true }));
  assert.equal((await api('POST', '/v1/catalogs/films/items', ADMIN, { items })).status, 200);
  const events = Array.from({ length: 300 }, (_, i) => ({ user_id: `w${i % 40}`, item_id: `f${(i * 7) % 30}` }));
  assert.equal((await api('POST', '/v1/catalogs/films/events', ADMIN, { events })).status, 200);
  const key = (await api('POST', '/v1/keys', ADMIN, { name: 'films-admin', role: 'admin', catalog: 'films' })).body.secret;

  const { page, context, errors } = await signedIn(key, { allow: [/status of 403/] });
  assert.deepEqual(await page.locator('#catalog-select option').allInnerTexts(), ['films']);
  const nav = await page.locator('#nav').innerText();
  assert.match(nav, /Models/);
  for (const hidden of ['Training jobs', 'Keys and audit']) assert.doesNotMatch(nav, new RegExp(hidden));
  assert.match(await page.locator('.notice').innerText(), /need a key for all catalogs/);
  assert.match(await page.locator('table').first().innerText(), /films\s+40\s+30\s+300/);
  await open(page, 'models');
  await page.waitForSelector('text=No model trained yet');
  await open(page, 'catalog');
  await page.waitForSelector('text=Page 1: 25 items');
  assert.match(await page.locator('#page').innerText(), /30 items have 300 events/);
  await open(page, 'jobs');
  assert.match(await page.locator('.notice').innerText(), /for all catalogs/);
  const statuses = await page.evaluate(async () => {
    const auth = { Authorization: `Bearer ${sessionStorage.getItem('encore.apiKey')}` };
    return Promise.all(['/v1/catalogs/music/stats/popularity', '/v1/catalogs/music/models', '/v1/jobs', '/v1/catalogs']
      .map((path) => fetch(path, { headers: auth }).then((r) => r.status)));
  });
  assert.deepEqual(statuses, [403, 403, 403, 403]);
  assert.deepEqual(errors, []);
  await context.close();
});
