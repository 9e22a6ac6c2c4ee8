// A model's page: the try-it form sends one row through the same REST API a client uses
// (POST /v2/models/{name}/infer, explain = true when the model explains) and draws the answer.
import { api, element } from "./common.js";
import { drawExplanation } from "./explain.js";

const form = document.querySelector('[data-testid="try-form"]');
const outputs = document.querySelector('[data-testid="try-outputs"] tbody');
const redactions = document.querySelector('[data-testid="redactions"]');
const explanation = document.querySelector('[data-testid="explanation"]');
const problem = document.querySelector('[data-testid="try-error"]');
const answerBox = document.querySelector('[data-testid="try-answer"]');
const DRAWN = new Set(["explanation", "redactions"]);

class FieldError extends Error {}

function value(field) {
  const raw = field.value;
  const name = field.dataset.column;
  switch (field.dataset.kind) {
    case "bool":
      return raw === "true";
    case "number": {
      if (raw.trim() === "" || Number.isNaN(Number(raw))) {
        throw new FieldError(`${name}: enter a number`);
      }
      return Number(raw);
    }
    case "vector": {
      const numbers = raw.split(",").map((part) => part.trim()).filter((part) => part !== "").map(Number);
      if (!numbers.length || numbers.some(Number.isNaN)) {
        throw new FieldError(`${name}: enter numbers separated by commas`);
      }
      return numbers;
    }
    default:
      return raw;
  }
}

function body() {
  const inputs = [];
  for (const field of form.querySelectorAll("[data-column]")) {
    const data = value(field);
    const vector = Array.isArray(data);
    inputs.push({
      name: field.dataset.column,
      datatype: field.dataset.datatype,
      shape: vector ? [1, data.length] : [1],
      data: vector ? data : [data],
    });
  }
  const explain = form.dataset.explains === "true" && form.querySelector("#try-explain")?.checked;
  return explain ? { inputs, parameters: { explain: true } } : { inputs };
}

function parsed(output) {
  const first = Array.isArray(output.data) ? output.data[0] : undefined;
  if (typeof first !== "string") {
    return null;
  }
  try {
    return JSON.parse(first);
  } catch {
    return null;
  }
}

function showOutputs(answer) {
  outputs.replaceChildren();
  for (const output of answer.outputs || []) {
    if (DRAWN.has(output.name)) {
      continue;
    }
    const row = element("tr", null, { "data-output": output.name });
    const shown = output.data.length === 1 ? output.data[0] : output.data;
    row.append(element("th", output.name, { scope: "row" }),
      element("td", typeof shown === "string" ? shown : JSON.stringify(shown)));
    outputs.append(row);
  }
}

function showRedactions(answer) {
  redactions.replaceChildren();
  const output = (answer.outputs || []).find((item) => item.name === "redactions");
  const spans = output ? parsed(output) : null;
  if (!output) {
    return;
  }
  redactions.append(element("h3", "Redacted before the model saw the text"));
  if (!spans || !spans.length) {
    redactions.append(element("p", "Nothing was redacted."));
    return;
  }
  const table = element("table");
  table.append(element("caption", "What was masked, by type and position (never the value)", { class: "visually-hidden" }));
  const head = element("tr");
  head.append(element("th", "Type", { scope: "col" }), element("th", "Characters", { scope: "col" }));
  const thead = element("thead");
  thead.append(head);
  table.append(thead);
  const rows = element("tbody");
  for (const span of spans) {
    const row = element("tr", null, { "data-testid": "redaction", "data-type": span.type });
    row.append(element("td", span.type), element("td", `${span.start}–${span.end}`));
    rows.append(row);
  }
  table.append(rows);
  redactions.append(table);
}

function showExplanation(answer, original) {
  explanation.replaceChildren();
  const output = (answer.outputs || []).find((item) => item.name === "explanation");
  const drawn = output ? parsed(output) : null;
  if (drawn) {
    explanation.append(element("h3", "Why"));
    drawExplanation(explanation, drawn, original);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  problem.hidden = true;
  let request;
  try {
    request = body();
  } catch (error) {
    problem.textContent = error.message;
    problem.hidden = false;
    return;
  }
  const version = form.dataset.version;
  const name = encodeURIComponent(form.dataset.model);
  const path = version ? `/v2/models/${name}/versions/${encodeURIComponent(version)}/infer` : `/v2/models/${name}/infer`;
  const button = form.querySelector('[data-testid="try-submit"]');
  button.disabled = true;
  try {
    const response = await api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    const answer = await response.json();
    if (!response.ok) {
      problem.textContent = `HTTP ${response.status}: ${answer.error ?? "the request failed"}`;
      problem.hidden = false;
      return;
    }
    const text = form.querySelector('[data-kind="text"]');
    answerBox.hidden = false;
    showOutputs(answer);
    showRedactions(answer);
    showExplanation(answer, text ? text.value : null);
  } catch (error) {
    problem.textContent = `The request failed: ${error.message}`;
    problem.hidden = false;
  } finally {
    button.disabled = false;
  }
});
