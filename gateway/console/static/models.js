// The models page: one call to /console/api/stats every 2 s fills every row and its chart.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { api, formatBytes, formatNumber } from "./common.js";

const POLL_MS = 2000;
const KEEP_POINTS = 150; // 5 minutes at one point per poll
const series = new Map(); // model -> {t: [], rps: [], p99: []}
const charts = new Map();
const status = document.querySelector('[data-testid="stats-status"]');

function cell(row, field, text, title = null) {
  const target = row.querySelector(`[data-field="${field}"]`);
  if (target && target.textContent !== text) {
    target.textContent = text;
  }
  if (target && title !== null) {
    target.title = title;
  }
}

function longer(model, key, unit) {
  // The same figure over the longer windows, for the cell's tooltip.
  return ["60s", "300s"]
    .map((name) => {
      const window = model.windows[name];
      const value = window ? window[key] : null;
      return `last ${name === "60s" ? "minute" : "5 minutes"}: ${value === null ? "no requests" : formatNumber(value) + unit}`;
    })
    .join("; ");
}

function engines(model) {
  const seen = new Set();
  for (const version of model.versions) {
    if (version.engine) {
      seen.add(version.providers ? `${version.engine} (${version.providers})` : version.engine);
    }
  }
  return [...seen].join("; ");
}

function memory(model) {
  const parts = [];
  for (const version of model.versions) {
    if (version.memory_host_bytes !== undefined) {
      let text = `v${version.version}: ${formatBytes(version.memory_host_bytes)}`;
      if (version.memory_device_bytes !== undefined) {
        text += ` + ${formatBytes(version.memory_device_bytes)} GPU`;
      }
      parts.push(text);
    }
  }
  return parts.join(", ");
}

function states(model) {
  return model.versions
    .map((version) => (version.version ? `v${version.version} ${version.state}` : version.state)
      + (version.reason ? ` (${version.reason})` : ""))
    .join(", ");
}

function chartFor(name, target) {
  let chart = charts.get(name);
  if (chart) {
    return chart;
  }
  const data = series.get(name);
  chart = new uPlot({
    width: 160,
    height: 48,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, rps: { auto: true }, ms: { auto: true } },
    axes: [{ show: false }, { scale: "rps", show: false }, { scale: "ms", show: false }],
    series: [
      {},
      { label: "requests/s", scale: "rps", stroke: "#1f5fa8", width: 2 },
      { label: "p99 ms", scale: "ms", stroke: "#c25a00", width: 1.5, dash: [4, 3] },
    ],
  }, [data.t, data.rps, data.p99], target);
  charts.set(name, chart);
  return chart;
}

function update(answer) {
  for (const model of answer.models) {
    const row = document.querySelector(`tr[data-model="${CSS.escape(model.name)}"]`);
    if (!row) {
      continue;
    }
    const now = model.windows["10s"];
    cell(row, "state", states(model));
    cell(row, "engine", engines(model));
    cell(row, "plugin", model.plugin ?? "");
    cell(row, "memory", memory(model));
    cell(row, "rps", formatNumber(now.requests_per_s), longer(model, "requests_per_s", "/s"));
    cell(row, "p50", formatNumber(now.p50_ms), longer(model, "p50_ms", " ms"));
    cell(row, "p99", formatNumber(now.p99_ms), longer(model, "p99_ms", " ms"));
    const warnings = [...model.drift];
    if (now.errors_per_s) {
      warnings.push(`${formatNumber(now.errors_per_s)} errors/s`);
    }
    cell(row, "drift", warnings.join("; "));
    if (now.requests_per_s === null) {
      continue; // the first poll: nothing to difference against yet
    }
    if (!series.has(model.name)) {
      series.set(model.name, { t: [], rps: [], p99: [] });
    }
    const data = series.get(model.name);
    data.t.push(answer.time);
    data.rps.push(now.requests_per_s);
    data.p99.push(now.p99_ms);
    if (data.t.length > KEEP_POINTS) {
      data.t.shift();
      data.rps.shift();
      data.p99.shift();
    }
    const target = row.querySelector('[data-testid="stats-chart"]');
    if (target) {
      chartFor(model.name, target).setData([data.t, data.rps, data.p99]);
    }
  }
}

async function poll() {
  if (!document.hidden) {
    try {
      const response = await api("/console/api/stats");
      if (response.ok) {
        update(await response.json());
        status.textContent = "";
      } else {
        status.textContent = `Statistics unavailable (HTTP ${response.status}).`;
      }
    } catch (error) {
      status.textContent = "Statistics unavailable (the server did not answer).";
    }
  }
  window.setTimeout(poll, POLL_MS);
}

poll();
