// A record's page: its explanations (the record's own and any computed in the background), drawn as on the try-it form.
import { drawExplanation } from "./explain.js";

const data = document.getElementById("record-explanations");
const container = document.querySelector('[data-testid="explanation"]');
if (data && container) {
  for (const explanation of JSON.parse(data.textContent)) {
    drawExplanation(container, explanation);
  }
}
