// Models: every version of the catalog with its algorithm, settings, holdout metrics, size,
// training time and data watermark; a chart comparing versions on a chosen metric; activation
// and rollback (admin, confirmed).

import { get, post, catalogPath, query } from '../api.js';
import { el, section, setContent, select, field, status, confirmAction, pagedTable, fmtBytes, fmtTime, fmtNum, fmtInt, fmtDuration } from '../ui.js';
import { barChart } from '../charts.js';

const versionNumber = (v) => Number(String(v).replace(/^v/, ''));

export async function render(root, ctx) {
  if (!ctx.catalog) {
    root.append(el('p', {}, 'No catalog yet.'));
    return;
  }
  const [list, jobs] = await Promise.all([
    get(catalogPath(ctx.catalog, '/models')),
    ctx.isGlobal ? get(`/v1/jobs${query({ catalog: ctx.catalog, limit: 1000 })}`) : Promise.resolve({ jobs: [] }),
  ]);
  const models = list.models;
  const jobOf = new Map(jobs.jobs.filter((j) => j.model_version).map((j) => [j.model_version, j]));
  if (!models.length) {
    root.append(section(`Versions · ${ctx.catalog}`, el('p', {}, 'No model trained yet: start one on the Training jobs page.')));
    return;
  }
  const metricNames = [...new Set(models.flatMap((m) => Object.keys(m.metrics)))].sort();
  const preferred = metricNames.includes('ndcg@10') ? 'ndcg@10' : metricNames[0];
  const chosen = ctx.params.get('metric') && metricNames.includes(ctx.params.get('metric')) ? ctx.params.get('metric') : preferred;
  const active = models.find((m) => m.active);

  const chartBox = el('div');
  const picker = select(metricNames.length ? metricNames : [['', 'no metrics']], chosen, { disabled: !metricNames.length });
  const drawChart = () => {
    const metric = picker.value;
    const ordered = [...models].sort((a, b) => versionNumber(a.version) - versionNumber(b.version));
    const best = ordered.reduce((b, m) => (m.metrics[metric] !== undefined && (!b || m.metrics[metric] > b.metrics[metric]) ? m : b), null);
    setContent(chartBox, barChart({
      title: `${metric || 'metric'} by version`,
      summary: best ? `Best: ${best.version} with ${fmtNum(best.metrics[metric])}; active: ${active ? active.version : 'none'}.` : 'No version has this metric (trained without holdout).',
      bars: ordered.map((m) => ({ label: m.version, value: m.metrics[metric], cls: m.active ? 's2' : 's1', title: `${m.version} (${m.algorithm})${m.active ? ', active' : ''}: ${m.metrics[metric] === undefined ? 'not measured' : fmtNum(m.metrics[metric])}` })),
      y: { label: metric, format: (v) => fmtNum(v, 3) },
    }), el('p', { class: 'help' }, 'Holdout metrics measured when the version was trained (exact full-ranking evaluation). The active version is the darker bar; n/a: trained without a holdout.'));
  };
  picker.addEventListener('change', drawChart);

  const jobTime = (m) => {
    const job = jobOf.get(m.version);
    return job && job.finished_unix_ms ? fmtDuration((job.finished_unix_ms - job.created_unix_ms) / 1000) : '–';
  };
  const action = (m) => {
    const older = active && versionNumber(m.version) < versionNumber(active.version);
    return m.active ? el('span', { class: 'badge' }, 'active')
      : el('button', { type: 'button', class: older ? 'secondary' : '', 'data-version': m.version,
        onclick: () => activate(ctx, m.version, older, active) }, older ? `Roll back to ${m.version}` : `Activate ${m.version}`);
  };
  const table = pagedTable(`${models.length} version${models.length === 1 ? '' : 's'}, newest first`, [
    { label: 'Version', value: (m) => m.version, header: true },
    { label: 'Algorithm', value: (m) => m.algorithm },
    { label: 'Settings', class: 'small', value: (m) => Object.entries(m.params || {}).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ') },
    { label: 'Metrics', class: 'small', value: (m) => (Object.keys(m.metrics).length ? Object.entries(m.metrics).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ') : 'not measured') },
    { label: 'Size', class: 'num', value: (m) => fmtBytes(m.size_bytes) },
    { label: 'Trained', value: (m) => fmtTime(m.created_unix_ms) },
    { label: 'Job time', class: 'num', value: jobTime },
    { label: 'Watermark', class: 'num', value: (m) => `event ${fmtInt(m.watermark)}` },
    { label: 'State', value: action },
  ], models, 20, (m) => (m.active ? 'active-row' : null));

  root.append(
    section(`Compare versions · ${ctx.catalog}`, field('Metric', picker), chartBox),
    section(`Versions · ${ctx.catalog}`, table,
      el('p', { class: 'help' }, 'Job time is from queueing to the end of the training job (all-catalog keys only). The watermark is the newest event the version was trained on. Activating swaps the served model atomically; rolling back is activating an older version.')),
  );
  drawChart();
}

async function activate(ctx, version, older, active) {
  const verb = older ? 'Roll back' : 'Activate';
  const ok = await confirmAction(`${verb} ${version}?`,
    `${ctx.catalog} will serve ${version}${active ? ` instead of ${active.version}` : ''} from the next request on. Requests in flight finish on the current model.`,
    `${verb} ${version}`);
  if (!ok) return;
  try {
    const info = await post(catalogPath(ctx.catalog, `/models/${encodeURIComponent(version)}/activate`));
    status(`${info.version} is now active for ${ctx.catalog}.`, 'ok');
  } catch (e) {
    status(`Could not activate ${version}: ${e.message}`, 'error');
  }
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}
