// Draws an explanation (docs/explanations.md): words shaded toward or against the explained
// label, or one Shapley bar per field of a tabular row, always with the numbers in a table.
// Colours: a blue (toward) / orange (against) diverging scale, readable with the common forms
// of colour blindness; the direction is also drawn by the underline (solid toward, dotted against).
import { element, formatNumber } from "./common.js";

const LEVELS = 5;

function level(weight, scale) {
  if (!scale || !weight) {
    return 0;
  }
  return Math.max(1, Math.min(LEVELS, Math.ceil((Math.abs(weight) / scale) * LEVELS)));
}

function direction(weight) {
  if (weight > 0) {
    return "toward";
  }
  return weight < 0 ? "against" : "neutral";
}

function describe(weight, label) {
  const sign = weight > 0 ? "+" : "";
  const where = weight > 0 ? "toward" : weight < 0 ? "against" : "neither toward nor against";
  return `${sign}${formatNumber(weight, 4)} (${where} ${label})`;
}

function summary(explanation) {
  const label = explanation.label ?? "?";
  const parts = [`Explained: ${label}`];
  if (explanation.target) {
    parts.push(`(${explanation.target})`);
  }
  const line = element("p", null, { class: "explanation-summary", "data-testid": "explanation-summary" });
  line.textContent = `${parts.join(" ")}. Base value ${formatNumber(explanation.base_value, 4)} → value ${formatNumber(explanation.value, 4)}`
    + ` (${explanation.method ?? "?"}, ${explanation.samples ?? "?"} coalitions).`;
  return line;
}

function legend(label) {
  const box = element("p", null, { class: "legend" });
  box.append(element("span", `toward ${label}`, { class: "w toward-4" }), " ",
    element("span", `against ${label}`, { class: "w against-4" }),
    " — deeper colour: larger weight; hover a word, or read the table below, for the numbers.");
  return box;
}

function wordsView(units, explanation, original) {
  const label = String(explanation.label ?? "the label");
  const scale = Math.max(0, ...units.map((unit) => Math.abs(unit.weight)));
  const paragraph = element("p", null, { class: "shaded" });
  let at = 0;
  for (const unit of units) {
    if (original && Number.isInteger(unit.start) && unit.start >= at) {
      paragraph.append(document.createTextNode(original.slice(at, unit.start)));
    } else if (paragraph.childNodes.length) {
      paragraph.append(document.createTextNode(" "));
    }
    const text = unit.text ?? (original ? original.slice(unit.start, unit.end) : `[${unit.start}:${unit.end}]`);
    const word = element("span", text, {
      class: `w ${direction(unit.weight)}-${level(unit.weight, scale)}`,
      "data-testid": "explanation-token",
      "data-attribution": unit.weight,
      title: describe(unit.weight, label),
    });
    paragraph.append(word);
    at = Number.isInteger(unit.end) ? unit.end : at;
  }
  if (original && at < original.length) {
    paragraph.append(document.createTextNode(original.slice(at)));
  }
  return paragraph;
}

function barsView(items, explanation) {
  const label = String(explanation.label ?? "the output");
  const scale = Math.max(0, ...items.map((item) => Math.abs(item.weight)));
  const list = element("div", null, { class: "bars", role: "presentation" });
  for (const item of items) {
    const row = element("div", null, { class: "bar-row" });
    row.append(element("span", `${item.feature} = ${JSON.stringify(item.value)}`, { class: "bar-label" }));
    const track = element("span", null, { class: "bar-track" });
    const bar = element("span", null, {
      class: `bar ${direction(item.weight)}-${Math.max(3, level(item.weight, scale))} ${item.weight < 0 ? "left" : "right"}`,
      "data-testid": "explanation-bar",
      "data-feature": item.feature,
      "data-attribution": item.weight,
      title: describe(item.weight, label),
    });
    // CSSOM, not a style attribute: the page's CSP forbids inline styles, not this.
    bar.style.width = `${scale ? (Math.abs(item.weight) / scale) * 50 : 0}%`;
    track.append(bar);
    row.append(track, element("span", formatNumber(item.weight, 3), { class: "bar-number" }));
    list.append(row);
  }
  return list;
}

function numbersTable(items, tabular, explanation) {
  const table = element("table", null, { "data-testid": "explanation-table", class: "explanation-table" });
  table.append(element("caption", `Attributions for ${explanation.label ?? "the explained label"}`));
  const head = element("thead");
  const headings = tabular ? ["Field", "Value", "Weight", "Direction"] : ["Word", "Position", "Weight", "Direction"];
  const headRow = element("tr");
  for (const heading of headings) {
    headRow.append(element("th", heading, { scope: "col" }));
  }
  head.append(headRow);
  const body = element("tbody");
  for (const item of items) {
    const row = element("tr");
    if (tabular) {
      row.append(element("th", item.feature, { scope: "row" }), element("td", JSON.stringify(item.value)));
    } else {
      row.append(element("th", item.text ?? "", { scope: "row" }), element("td", `${item.start}–${item.end}`));
    }
    row.append(element("td", formatNumber(item.weight, 4), { class: "number" }), element("td", direction(item.weight)));
    body.append(row);
  }
  table.append(head, body);
  return table;
}

export function drawExplanation(container, explanation, original = null) {
  const box = element("div", null, { class: "explanation-one" });
  const items = Array.isArray(explanation.attributions) ? explanation.attributions : [];
  const tabular = items.length > 0 && "feature" in items[0];
  const label = String(explanation.label ?? "the label");
  box.append(summary(explanation));
  if (tabular) {
    box.append(barsView(items, explanation));
  } else {
    const units = items.filter((item) => "start" in item).sort((a, b) => a.start - b.start);
    box.append(legend(label), wordsView(units, explanation, original));
  }
  box.append(numbersTable(items, tabular, explanation));
  container.append(box);
}
