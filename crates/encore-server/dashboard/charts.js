// Hand-written SVG charts: a line chart (linear or log axes, several series, gaps for missing
// values) and a bar chart. Each returns a <figure> with an SVG (role="img", a text summary as
// its label) and an HTML legend. Colours come from classes in style.css.

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const M = { left: 64, right: 16, top: 14, bottom: 40 };

/** Round tick values covering [lo, hi] (linear). */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
    const v = 10 ** e;
    if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
  }
  return ticks.length ? ticks : [lo, hi];
}

function scale(axis, lo, hi, from, to) {
  if (axis.log) {
    const a = Math.log10(lo);
    const b = Math.log10(hi);
    return (v) => from + ((Math.log10(v) - a) / (b - a || 1)) * (to - from);
  }
  return (v) => from + ((v - lo) / (hi - lo || 1)) * (to - from);
}

function extent(values, axis, zero) {
  let vals = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  if (!vals.length) return null;
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (zero && !axis.log) lo = Math.min(lo, 0);
  if (axis.min !== undefined) lo = axis.min;
  if (axis.max !== undefined) hi = axis.max;
  if (hi === lo) {
    if (axis.log) { lo /= 2; hi *= 2; } else { hi = lo + 1; }
  }
  vals = null;
  return [lo, hi];
}

function figure(title, svg, legend) {
  const fig = document.createElement('figure');
  fig.className = 'chart';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  fig.append(cap, svg);
  if (legend && legend.length > 1) {
    const ul = document.createElement('ul');
    ul.className = 'legend';
    legend.forEach(([name, cls]) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = `swatch ${cls}`;
      sw.setAttribute('aria-hidden', 'true');
      li.append(sw, name);
      ul.append(li);
    });
    fig.append(ul);
  }
  return fig;
}

function frame(width, height, label) {
  return s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' }, s('title', {}, label));
}

function empty(svg, width, height, text) {
  svg.append(s('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle' }, text));
}

/**
 * A line chart. `series`: [{name, points: [[x, y|null], …], cls}]; `x`/`y`: {label, format,
 * log, min, max}. `summary` is read by screen readers.
 */
export function lineChart({ title, summary, series, x = {}, y = {}, width = 640, height = 240, dots, emptyText = 'No data yet' }) {
  const svg = frame(width, height, `${title}. ${summary || ''}`.trim());
  const all = series.flatMap((se) => se.points);
  const xr = extent(all.map((p) => p[0]), x, false);
  const yr = extent(all.map((p) => p[1]), y, y.zero !== false);
  if (!xr || !yr) {
    empty(svg, width, height, emptyText);
    return figure(title, svg);
  }
  const fx = scale(x, xr[0], xr[1], M.left, width - M.right);
  const fy = scale(y, yr[0], yr[1], height - M.bottom, M.top);
  const fmtX = x.format || ((v) => String(v));
  const fmtY = y.format || ((v) => String(v));
  const grid = s('g', { class: 'grid' });
  const yTicks = y.log ? logTicks(yr[0], yr[1]) : niceTicks(yr[0], yr[1]);
  yTicks.forEach((t) => {
    grid.append(s('line', { x1: M.left, x2: width - M.right, y1: fy(t), y2: fy(t) }));
    grid.append(s('text', { x: M.left - 6, y: fy(t) + 4, 'text-anchor': 'end', class: 'tick' }, fmtY(t)));
  });
  const xTicks = x.ticks || (x.log ? logTicks(xr[0], xr[1]) : niceTicks(xr[0], xr[1], 6));
  xTicks.forEach((t) => {
    grid.append(s('line', { x1: fx(t), x2: fx(t), y1: M.top, y2: height - M.bottom, class: 'vgrid' }));
    grid.append(s('text', { x: fx(t), y: height - M.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, fmtX(t)));
  });
  svg.append(grid);
  svg.append(s('line', { x1: M.left, x2: width - M.right, y1: height - M.bottom, y2: height - M.bottom, class: 'axis' }));
  svg.append(s('line', { x1: M.left, x2: M.left, y1: M.top, y2: height - M.bottom, class: 'axis' }));
  if (x.label) svg.append(s('text', { x: (M.left + width - M.right) / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis-label' }, x.label));
  if (y.label) svg.append(s('text', { x: 12, y: M.top + (height - M.bottom - M.top) / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 12 ${M.top + (height - M.bottom - M.top) / 2})` }, y.label));
  series.forEach((se, i) => {
    const cls = se.cls || `s${i + 1}`;
    let d = '';
    let pen = false;
    const pts = [];
    se.points.forEach(([px, py]) => {
      const ok = Number.isFinite(px) && Number.isFinite(py) && (!y.log || py > 0) && (!x.log || px > 0);
      if (!ok) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${fx(px).toFixed(1)},${fy(py).toFixed(1)}`;
      pen = true;
      pts.push([px, py]);
    });
    svg.append(s('path', { d, class: `line ${cls}` }));
    if (dots || pts.length <= 40) {
      pts.forEach(([px, py]) => svg.append(s('circle', { cx: fx(px).toFixed(1), cy: fy(py).toFixed(1), r: 2.5, class: `dot ${cls}` },
        s('title', {}, `${se.name}: ${fmtX(px)} → ${fmtY(py)}`))));
    }
  });
  return figure(title, svg, series.map((se, i) => [se.name, se.cls || `s${i + 1}`]));
}

/** A bar chart. `bars`: [{label, value, cls, title}]. */
export function barChart({ title, summary, bars, y = {}, width = 640, height = 240 }) {
  const svg = frame(width, height, `${title}. ${summary || ''}`.trim());
  const values = bars.map((b) => b.value).filter(Number.isFinite);
  if (!values.length) {
    empty(svg, width, height, 'No data yet');
    return figure(title, svg);
  }
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values) || 1;
  const fy = scale({}, lo, hi, height - M.bottom, M.top);
  const fmtY = y.format || ((v) => String(v));
  const grid = s('g', { class: 'grid' });
  niceTicks(lo, hi).forEach((t) => {
    grid.append(s('line', { x1: M.left, x2: width - M.right, y1: fy(t), y2: fy(t) }));
    grid.append(s('text', { x: M.left - 6, y: fy(t) + 4, 'text-anchor': 'end', class: 'tick' }, fmtY(t)));
  });
  svg.append(grid);
  const slot = (width - M.left - M.right) / bars.length;
  const labelEvery = Math.ceil(bars.length / 24);
  bars.forEach((b, i) => {
    const x0 = M.left + i * slot + slot * 0.15;
    const h = Number.isFinite(b.value) ? fy(lo) - fy(b.value) : 0;
    svg.append(s('rect', { x: x0.toFixed(1), y: (fy(lo) - h).toFixed(1), width: (slot * 0.7).toFixed(1), height: Math.max(h, 0).toFixed(1), class: `bar ${b.cls || 's1'}` },
      s('title', {}, b.title || `${b.label}: ${Number.isFinite(b.value) ? fmtY(b.value) : 'no value'}`)));
    if (!Number.isFinite(b.value)) {
      svg.append(s('text', { x: (x0 + slot * 0.35).toFixed(1), y: fy(lo) - 6, 'text-anchor': 'middle', class: 'tick' }, 'n/a'));
    }
    if (i % labelEvery === 0) {
      svg.append(s('text', { x: (x0 + slot * 0.35).toFixed(1), y: height - M.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, b.label));
    }
  });
  svg.append(s('line', { x1: M.left, x2: width - M.right, y1: fy(lo), y2: fy(lo), class: 'axis' }));
  if (y.label) svg.append(s('text', { x: 12, y: M.top + (height - M.bottom - M.top) / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 12 ${M.top + (height - M.bottom - M.top) / 2})` }, y.label));
  return figure(title, svg);
}
