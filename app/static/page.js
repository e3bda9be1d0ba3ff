// The attention viewer: calls the public API and paints each token by its weight.
"use strict";

const $ = (selector) => document.querySelector(selector);
const ACCENT = "232, 89, 12";

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

function describeError(status, body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return `오류 ${status}: ${detail}`;
  if (Array.isArray(detail)) {
    return `오류 ${status}: ` + detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  }
  return `오류 ${status}: the server did not say why`;
}

async function callApi(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error(describeError(response.status, body));
  return body;
}

// Tokens whose spans are identical (a rewritten morpheme shares its word) are painted once, weights added.
function segments(text, tokens) {
  const groups = new Map();
  for (const token of tokens) {
    const key = `${token.start}:${token.end}`;
    const group = groups.get(key) || { start: token.start, end: token.end, attention: 0, oov: false };
    group.attention += token.attention;
    group.oov = group.oov || token.oov;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => a.start - b.start);
}

function renderHeat(text, tokens) {
  const heat = document.createElement("div");
  heat.className = "heat";
  const parts = segments(text, tokens);
  const max = Math.max(1e-9, ...parts.map((p) => p.attention));
  let cursor = 0;
  for (const part of parts) {
    if (part.start < cursor) continue;
    heat.append(document.createTextNode(text.slice(cursor, part.start)));
    const span = document.createElement("span");
    span.className = "tok" + (part.oov ? " oov" : "");
    span.textContent = text.slice(part.start, part.end);
    span.dataset.start = part.start;
    span.dataset.end = part.end;
    span.dataset.weight = part.attention.toFixed(6);
    span.style.backgroundColor = `rgba(${ACCENT}, ${(part.attention / max).toFixed(3)})`;
    span.title = `attention ${part.attention.toFixed(4)}` + (part.oov ? " (unknown to the model)" : "");
    heat.append(span);
    cursor = part.end;
  }
  heat.append(document.createTextNode(text.slice(cursor)));
  return heat;
}

function renderResult(text, prediction) {
  const card = document.createElement("article");
  card.className = "result";
  const head = document.createElement("div");
  head.className = "head";
  const label = document.createElement("span");
  label.className = `label ${prediction.label}`;
  label.textContent = prediction.label;
  head.append(label);
  const flags = document.createElement("span");
  flags.className = "flags";
  flags.textContent = `${prediction.tokens.length} tokens` + (prediction.truncated ? " · truncated: the model read only the first part" : "");
  head.append(flags);
  card.append(head);

  const bars = document.createElement("div");
  bars.className = "bars";
  for (const [name, p] of Object.entries(prediction.probabilities)) {
    const title = document.createElement("span");
    title.textContent = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML = "<span></span>";
    bar.firstChild.style.width = `${(p * 100).toFixed(1)}%`;
    const value = document.createElement("span");
    value.className = "prob";
    value.dataset.label = name;
    value.textContent = `${(p * 100).toFixed(1)}%`;
    bars.append(title, bar, value);
  }
  card.append(bars, renderHeat(text, prediction.tokens));
  return card;
}

async function analyse() {
  const button = $("#submit");
  const raw = $("#text").value;
  showError("");
  button.disabled = true;
  try {
    let texts, predictions;
    if (mode() === "batch") {
      texts = raw.split("\n").filter((line) => line.trim());
      if (!texts.length) throw new Error("한 줄 이상 입력하세요 (enter at least one line)");
      predictions = (await callApi("/v1/predict/batch", { texts })).predictions;
    } else {
      texts = [raw];
      predictions = [await callApi("/v1/predict", { text: raw })];
    }
    $("#results").replaceChildren(...predictions.map((p, i) => renderResult(texts[i], p)));
  } catch (error) {
    $("#results").replaceChildren();
    showError(error.message || String(error));
  } finally {
    button.disabled = false;
  }
}

async function loadModelInfo() {
  try {
    const response = await fetch("/v1/model");
    const info = await response.json();
    if (!response.ok) throw new Error(describeError(response.status, info));
    $("#model-info").textContent = `model ${info.name || ""} ${info.version} · labels: ${info.labels.join(", ")} · tokenizer: ${info.tokenizer.name}`;
  } catch (error) {
    $("#model-info").textContent = error.message || String(error);
  }
}

$("#submit").addEventListener("click", analyse);
$("#text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) analyse();
});
for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    $("#text").value = example.textContent;
    analyse();
  });
}
loadModelInfo();
