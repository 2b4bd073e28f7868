// The "Last hour" chart of the fleet page (docs/decisions/0025): GET /v1/stats/history drawn as
// inline SVG, no library. Per minute, the jobs that ended stacked by final status (bars, left
// axis: jobs) and the p50/p95 of queued→start and of run duration (lines, right axis: time).
// Loaded after app.js (el); drawHistoryChart is pure: the same history gives the same SVG.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_STACK = [["completed", "COMPLETED", "#15803d"], ["failed", "FAILED", "#b91c1c"], ["cancelled", "CANCELLED", "#6b7280"]];
const CHART_LINES = [["queueToStartP50Ms", "queued→start p50", "#2563eb", ""], ["queueToStartP95Ms", "queued→start p95", "#2563eb", "4 3"],
  ["runP50Ms", "run p50", "#a16207", ""], ["runP95Ms", "run p95", "#a16207", "4 3"]];
const svgEl = (tag, attrs = {}, ...children) => {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
};
function formatMs(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 120_000) return (ms / 1000).toFixed(ms < 10_000 ? 1 : 0) + " s";
  return (ms / 60_000).toFixed(1) + " min";
}
// The smallest "nice" number (1, 2, 5 × 10^k) at or above `v`: the top of an axis.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// history: the body of GET /v1/stats/history. Value: an <svg> element.
function drawHistoryChart(history, width = 900, height = 240) {
  const pad = { left: 40, right: 64, top: 26, bottom: 28 };
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  const buckets = history.buckets || [];
  const n = Math.max(1, buckets.length);
  const totals = { completed: 0, failed: 0, cancelled: 0 };
  let maxJobs = 0, maxMs = 0;
  for (const b of buckets) {
    for (const [k] of CHART_STACK) totals[k] += b[k];
    maxJobs = Math.max(maxJobs, b.completed + b.failed + b.cancelled);
    for (const [k] of CHART_LINES) if (b[k] !== null && b[k] !== undefined) maxMs = Math.max(maxMs, b[k]);
  }
  const topJobs = niceCeil(maxJobs), topMs = niceCeil(maxMs);
  const slot = w / n, barW = Math.max(1, slot * 0.8);
  const x = (i) => pad.left + i * slot;
  const yJobs = (v) => pad.top + h - (v / topJobs) * h;
  const yMs = (v) => pad.top + h - (v / topMs) * h;
  const svg = svgEl("svg", { id: "history-svg", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `jobs ended in the last ${history.minutes} minutes` });
  // Axes: jobs on the left, time on the right, the window's first and last minute below.
  svg.append(svgEl("line", { x1: pad.left, y1: pad.top + h, x2: pad.left + w, y2: pad.top + h, stroke: "#9ca3af" }));
  for (const v of [0, topJobs / 2, topJobs]) {
    svg.append(svgEl("text", { x: pad.left - 4, y: yJobs(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#555" }, String(v)));
    svg.append(svgEl("line", { x1: pad.left, y1: yJobs(v), x2: pad.left + w, y2: yJobs(v), stroke: "#eee" }));
  }
  if (maxMs > 0) {
    for (const v of [0, topMs / 2, topMs]) {
      svg.append(svgEl("text", { x: pad.left + w + 4, y: yMs(v) + 4, "font-size": 10, fill: "#555" }, formatMs(v)));
    }
  }
  const hhmm = (t) => (t || "").slice(11, 16);
  if (buckets.length) {
    svg.append(svgEl("text", { x: pad.left, y: height - 8, "font-size": 10, fill: "#555" }, hhmm(buckets[0].minute)));
    svg.append(svgEl("text", { x: pad.left + w, y: height - 8, "font-size": 10, fill: "#555", "text-anchor": "end" },
      hhmm(buckets[buckets.length - 1].minute) + " UTC"));
  }
  // Bars: one stack per minute, a rect per non-zero status, its count in data-count.
  const bars = svgEl("g", { class: "bars" });
  buckets.forEach((b, i) => {
    let base = 0;
    for (const [k, status, color] of CHART_STACK) {
      if (!b[k]) continue;
      const rect = svgEl("rect", { x: x(i) + (slot - barW) / 2, y: yJobs(base + b[k]), width: barW,
        height: Math.max(1, yJobs(base) - yJobs(base + b[k])), fill: color,
        "data-minute": b.minute, "data-status": status, "data-count": b[k] });
      rect.append(svgEl("title", {}, `${hhmm(b.minute)}: ${b[k]} ${status.toLowerCase()}`));
      bars.append(rect);
      base += b[k];
    }
  });
  svg.append(bars);
  // Lines: one path per percentile, broken where a minute had no run; a dot on every minute that
  // has a value (a lone minute has no segment to draw).
  for (const [k, label, color, dash] of CHART_LINES) {
    let d = "", pen = false;
    buckets.forEach((b, i) => {
      const v = b[k];
      if (v === null || v === undefined) { pen = false; return; }
      const px = (x(i) + slot / 2).toFixed(1), py = yMs(v).toFixed(1);
      d += `${pen ? "L" : "M"}${px} ${py} `;
      pen = true;
      svg.append(svgEl("circle", { cx: px, cy: py, r: 2.5, fill: color },
        svgEl("title", {}, `${hhmm(b.minute)}: ${label} ${formatMs(v)}`)));
    });
    if (d) svg.append(svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 1.5, "stroke-dasharray": dash, "data-line": k },
      svgEl("title", {}, label)));
  }
  // Legend with the window's totals (what the browser test reads).
  let lx = pad.left;
  for (const [k, status, color] of CHART_STACK) {
    const label = `${status.toLowerCase()} ${totals[k]}`;
    svg.append(svgEl("rect", { x: lx, y: 6, width: 10, height: 10, fill: color }));
    svg.append(svgEl("text", { x: lx + 14, y: 15, "font-size": 11, class: "chart-total", "data-status": status, "data-total": totals[k] }, label));
    lx += 24 + label.length * 6.5;
  }
  for (const [, label, color, dash] of CHART_LINES) {
    svg.append(svgEl("line", { x1: lx, y1: 11, x2: lx + 16, y2: 11, stroke: color, "stroke-width": 1.5, "stroke-dasharray": dash }));
    svg.append(svgEl("text", { x: lx + 20, y: 15, "font-size": 11 }, label));
    lx += 28 + label.length * 6;
  }
  return svg;
}
