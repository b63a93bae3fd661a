// Training jobs: start one, watch progress live (epoch, loss curve, estimated time left),
// cancel a queued or running one. Polls while a job is unfinished.

import { get, post, del, catalogPath, query } from '../api.js';
import { el, section, setContent, select, field, status, confirmAction, fmtTime, fmtNum, fmtDuration, errorBox } from '../ui.js';
import { lineChart } from '../charts.js';

const UNFINISHED = new Set(['queued', 'running']);

/** `factors=32, iterations=10` → {factors: 32, iterations: 10}; numbers where they parse. */
export function parseParams(text) {
  const params = {};
  for (const part of text.split(/[,\s]+/).filter(Boolean)) {
    const [k, v] = part.split('=');
    if (!k || v === undefined) throw new Error(`"${part}" is not key=value`);
    const n = Number(v);
    params[k.trim()] = v.trim() !== '' && Number.isFinite(n) ? n : v.trim();
  }
  return params;
}

function timeLeft(job, now) {
  if (!UNFINISHED.has(job.state) || !(job.progress > 0.05)) return null;
  const elapsed = (now - job.created_unix_ms) / 1000;
  return (elapsed * (1 - job.progress)) / job.progress;
}

export async function render(root, ctx) {
  const form = startForm(ctx);
  const list = el('div');
  const detail = el('div');
  root.append(section(`Start training · ${ctx.catalog || 'no catalog'}`, form), section('Jobs', list), section('Job detail', detail));
  let selected = ctx.params.get('job') ? Number(ctx.params.get('job')) : null;
  let last = '';
  let jobs = [];
  // Fetches the list; redraws only when something changed (keeps focus on an unchanged page).
  const refresh = async () => {
    jobs = (await get(`/v1/jobs${query({ catalog: ctx.catalog, limit: 50 })}`)).jobs;
    const text = JSON.stringify(jobs);
    if (text === last) return jobs;
    last = text;
    if (selected === null || !jobs.some((j) => j.job_id === selected)) {
      const running = jobs.find((j) => UNFINISHED.has(j.state));
      selected = running ? running.job_id : (jobs[0] ? jobs[0].job_id : null);
    }
    const now = Date.now();
    setContent(list, el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, `${jobs.length} most recent job${jobs.length === 1 ? '' : 's'} of ${ctx.catalog}`),
      el('thead', {}, el('tr', {}, ['Job', 'Model', 'State', 'Progress', 'Epoch', 'Loss', 'Time left', 'Started', 'Result', ''].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, jobs.length ? jobs.map((j) => el('tr', { class: j.job_id === selected ? 'active-row' : null },
        el('th', { scope: 'row' }, el('button', { type: 'button', class: 'link', 'aria-pressed': String(j.job_id === selected), onclick: () => { selected = j.job_id; last = ''; refresh(); } }, `#${j.job_id}`)),
        el('td', {}, j.model),
        el('td', {}, el('span', { class: `state ${j.state}` }, j.state)),
        el('td', {}, el('progress', { max: 1, value: j.progress, 'aria-label': `job ${j.job_id} progress` }), ` ${Math.round(100 * j.progress)} %`),
        el('td', { class: 'num' }, j.epoch ? `${j.epoch}${j.epochs ? ` / ${j.epochs}` : ''}` : '–'),
        el('td', { class: 'num' }, j.loss === null || j.loss === undefined ? '–' : j.loss.toPrecision(5)),
        el('td', { class: 'num' }, fmtDuration(timeLeft(j, now))),
        el('td', {}, fmtTime(j.created_unix_ms)),
        el('td', { class: 'small' }, j.error ? j.error : j.model_version ? `${j.model_version}${j.activated ? ' (activated)' : ''}${j.metrics && j.metrics['ndcg@10'] !== undefined ? `, ndcg@10 ${fmtNum(j.metrics['ndcg@10'])}` : ''}` : ''),
        el('td', {}, UNFINISHED.has(j.state) ? el('button', { type: 'button', class: 'danger', onclick: () => cancel(j, refresh) }, `Cancel #${j.job_id}`) : null)))
        : el('tr', {}, el('td', { colspan: 10, class: 'empty' }, 'No training job yet.'))))));
    const job = jobs.find((j) => j.job_id === selected);
    setContent(detail, job ? jobDetail(job, now) : el('p', {}, 'Select a job.'));
    return jobs;
  };
  // Every 1.5 s while a job is queued or running, otherwise every 15 s (to see jobs started
  // elsewhere): each poll of an admin route is a line in the audit log.
  await refresh();
  let idleTicks = 0;
  ctx.every(1500, async () => {
    if (!ctx.stillHere()) return;
    const busy = jobs.some((j) => UNFINISHED.has(j.state));
    idleTicks = busy ? 0 : idleTicks + 1;
    if (!busy && idleTicks % 10 !== 0) return;
    try {
      await refresh();
    } catch (e) {
      setContent(list, errorBox(e));
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const data = new FormData(form);
      const body = { model: data.get('model'), params: parseParams(String(data.get('params') || '')), activate: data.get('activate') };
      const holdout = Number(data.get('holdout'));
      if (holdout > 0) body.holdout = holdout;
      const { job_id: id } = await post(catalogPath(ctx.catalog, '/models'), body);
      selected = id;
      last = '';
      status(`Training job #${id} started.`, 'ok');
      await refresh();
    } catch (e) {
      status(`Could not start training: ${e.message}`, 'error');
    }
  });
}

function startForm(ctx) {
  const model = select(['ials', 'bpr', 'ease', 'itemknn', 'popularity'], 'ials', { name: 'model' });
  const params = el('input', { name: 'params', type: 'text', placeholder: 'factors=64, iterations=15', autocomplete: 'off' });
  const holdout = el('input', { name: 'holdout', type: 'number', min: 0, max: 0.9, step: 0.05, value: 0.2 });
  const activate = select([['if_better', 'if better on ndcg@10'], ['always', 'always'], ['never', 'never']], 'if_better', { name: 'activate' });
  return el('form', { class: 'inline-form', 'aria-label': 'Start a training job' },
    field('Model', model), field('Parameters', params, 'key=value, comma separated; unknown keys are refused'),
    field('Holdout fraction', holdout, '0 = no evaluation'), field('Activate', activate),
    el('button', { type: 'submit', disabled: !ctx.catalog }, 'Start training'));
}

function jobDetail(job, now) {
  const losses = job.loss_history || [];
  return el('div', {},
    el('p', {}, el('strong', {}, `Job #${job.job_id}`), ` · ${job.model} on ${job.catalog} · ${job.state} · ${Math.round(100 * job.progress)} %`,
      job.epoch ? ` · epoch ${job.epoch}${job.epochs ? ` of ${job.epochs}` : ''}` : '',
      UNFINISHED.has(job.state) && timeLeft(job, now) !== null ? ` · about ${fmtDuration(timeLeft(job, now))} left` : ''),
    lineChart({
      title: 'Training loss by epoch',
      summary: losses.length ? `${losses.length} epochs, last loss ${losses[losses.length - 1].toPrecision(5)}.` : 'No loss reported (yet, or by this model, or the job ran before this server started).',
      series: [{ name: 'loss', points: losses.map((l, i) => [i + 1, l]) }],
      x: { label: 'epoch', format: (v) => String(Math.round(v)), ticks: losses.length <= 20 ? losses.map((_, i) => i + 1) : undefined },
      y: { label: 'loss', format: (v) => Number(v).toPrecision(3), zero: false },
      dots: true,
      emptyText: UNFINISHED.has(job.state) ? 'Waiting for the first epoch' : 'No loss curve for this job',
    }),
    el('p', { class: 'help' }, 'The curve is the current fit: with a holdout, the holdout fit first, then the final fit on all data. Time left is estimated from the progress so far.'));
}

async function cancel(job, refresh) {
  const ok = await confirmAction(`Cancel job #${job.job_id}?`, `The ${job.model} training stops at the next epoch and registers no model.`, 'Cancel the job');
  if (!ok) return;
  try {
    await del(`/v1/jobs/${job.job_id}`);
    status(`Job #${job.job_id} cancelled.`, 'ok');
  } catch (e) {
    status(`Could not cancel: ${e.message}`, 'error');
  }
  await refresh();
}
