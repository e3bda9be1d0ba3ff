// The attention viewer: calls the public API and paints each token by its weight.
"use strict";

const $ = (selector) => document.querySelector(selector);
const ACCENT = "232, 89, 12";
const MAX_SHADE = 0.8; // the most-attended token's background opacity; ink on it keeps a 5.5:1 contrast
const TOP_TOKENS = 5;
const TIMEOUT_MS = 30000;

let modelInfo = null; // GET /v1/model: its max_len says where a truncated text stops being read
let latest = null; // the newest request's AbortController: an older request is cancelled, never shown

class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

// A batch problem's loc is ["body", "texts", i]; the user knows the line of the text box, blank lines included.
function linePrefix(loc, lineNumbers) {
  const index = Array.isArray(loc) && loc[1] === "texts" ? loc[2] : undefined;
  return Number.isInteger(index) && lineNumbers[index] ? `${lineNumbers[index]}번째 줄: ` : "";
}

// The problems a user of this page can cause, in Korean, from the values in the problem's `ctx` (a position
// counts characters from 0); the API's English `msg` covers the rest, and a problem without those values.
const KOREAN_PROBLEMS = {
  blank_text: () => "보이는 글자가 없습니다. 분석할 글을 입력하세요",
  control_character: ({ name, position }) =>
    Number.isInteger(position) && `${position + 1}번째 글자가 제어 문자(${name})입니다. 탭과 줄바꿈 말고는 쓸 수 없습니다`,
  invalid_unicode: ({ name, position }) =>
    Number.isInteger(position) && `${position + 1}번째 글자(${name})가 짝 없는 서로게이트입니다. 올바른 유니코드가 아닙니다`,
  string_too_long: ({ length, limit }) => Number.isInteger(limit) && `${length}자입니다. ${limit}자까지 분석할 수 있습니다`,
  too_long: ({ length, limit }) => Number.isInteger(limit) && `${length}줄입니다. 한 번에 ${limit}줄까지 분석할 수 있습니다`,
  more_problems: ({ count }) => Number.isInteger(count) && `그 밖에도 문제가 ${count}개 더 있습니다`,
};

function describeProblem(problem) {
  const korean = KOREAN_PROBLEMS[problem.type];
  return (korean && korean(problem.ctx || {})) || problem.msg || JSON.stringify(problem);
}

function describeError(status, body, lineNumbers = []) {
  const detail = body && body.detail;
  let message = "서버가 이유를 알려 주지 않았습니다";
  if (typeof detail === "string") message = detail;
  if (Array.isArray(detail)) {
    message = detail.map((d) => linePrefix(d.loc, lineNumbers) + describeProblem(d)).join("; ");
  }
  if (status === 413) message += " (줄 수를 줄이거나 나눠서 보내세요)";
  if (status === 503) message += " (서버가 바쁩니다. 잠시 후 다시 시도하세요)";
  return `오류 ${status}: ${message}`;
}

// What went wrong, in words for the user; undefined for a request a newer one replaced (nothing to show).
function describeFailure(error, lineNumbers) {
  if (error instanceof ApiError) return describeError(error.status, error.body, lineNumbers);
  if (error.name === "AbortError") return undefined;
  if (error.name === "TimeoutError") return `서버가 ${TIMEOUT_MS / 1000}초 안에 답하지 않았습니다. 다시 시도하세요.`;
  if (error instanceof TypeError) return "서버에 연결할 수 없습니다. 서버가 실행 중인지 확인하세요.";
  return error.message || String(error);
}

async function fetchJson(path, init = {}) {
  const response = await fetch(path, init);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: describeError says the server gave no reason */ }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function isPrediction(p) {
  return Boolean(p) && typeof p.label === "string" && typeof p.probabilities === "object" && Array.isArray(p.tokens);
}

// Tokens whose spans overlap are painted once over the characters they share, weights added: a rewritten
// morpheme shares its word (Okt's stems, Komoran's 했 → 하 + 았), and Kiwi's contracted ending 어요 in 화나요
// covers 나요 while the verb 나 covers 나.
function segments(tokens) {
  const groups = [];
  for (const token of [...tokens].sort((a, b) => a.start - b.start || a.end - b.end)) {
    const last = groups[groups.length - 1];
    if (last && token.start < last.end) {
      last.end = Math.max(last.end, token.end);
      last.attention += token.attention;
      last.oov = last.oov || token.oov;
    } else {
      groups.push({ start: token.start, end: token.end, attention: token.attention, oov: token.oov });
    }
  }
  return groups;
}

// Where the model stopped reading a truncated text: the end of its max_len-th token (in code points).
function readUpTo(prediction, length) {
  if (!prediction.truncated || !modelInfo) return length;
  const last = prediction.tokens[modelInfo.max_len - 1];
  return last ? last.end : length;
}

// Spans count code points, as Python does; a JavaScript string counts UTF-16 units, so an emoji before a
// token would shift every span after it. Slicing the array of code points keeps them in step.
function renderHeat(chars, parts, end) {
  const slice = (from, to) => chars.slice(from, to).join("");
  const heat = document.createElement("div");
  heat.className = "heat";
  const max = Math.max(1e-9, ...parts.map((p) => p.attention));
  let cursor = 0;
  for (const part of parts) {
    if (part.start >= end) break;
    heat.append(document.createTextNode(slice(cursor, part.start)));
    const span = document.createElement("span");
    span.className = "tok" + (part.oov ? " oov" : "");
    span.textContent = slice(part.start, part.end);
    span.dataset.start = part.start;
    span.dataset.end = part.end;
    span.dataset.weight = part.attention.toFixed(6);
    span.style.backgroundColor = `rgba(${ACCENT}, ${((MAX_SHADE * part.attention) / max).toFixed(3)})`;
    span.title = `어텐션 ${part.attention.toFixed(4)}` + (part.oov ? " (모델이 모르는 형태소)" : "");
    heat.append(span);
    cursor = part.end;
  }
  heat.append(document.createTextNode(slice(cursor, Math.max(cursor, end))));
  if (end < chars.length) {
    const unread = document.createElement("span");
    unread.className = "unread";
    unread.title = "모델이 읽지 않은 부분";
    unread.textContent = slice(Math.max(cursor, end));
    heat.append(unread);
  }
  return heat;
}

// A token as the top list shows it: one made only of characters that show as nothing (a zero-width space, a
// direction mark) is written as its code points, so its chip is not blank.
function visibleForm(form) {
  if (/[^\p{Cf}\p{Z}\p{M}\u3164\uFFA0]/u.test(form)) return form;
  return Array.from(form, (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`).join(" ");
}

// The most-attended tokens as text, so their weights reach keyboard, screen-reader and touch users too. A form
// that occurs more than once in the text says which occurrence it is.
function renderTopTokens(chars, parts) {
  const box = document.createElement("div");
  box.className = "top";
  const title = document.createElement("span");
  title.textContent = "가장 많이 본 형태소:";
  const list = document.createElement("ol");
  const form = (part) => chars.slice(part.start, part.end).join("");
  const counts = new Map(); // form -> how many times it has occurred so far, in text order
  const occurrence = parts.map((part) => {
    const nth = (counts.get(form(part)) || 0) + 1;
    counts.set(form(part), nth);
    return nth;
  });
  const top = [...parts.keys()].sort((a, b) => parts[b].attention - parts[a].attention).slice(0, TOP_TOKENS);
  for (const index of top) {
    const part = parts[index];
    const item = document.createElement("li");
    item.dataset.start = part.start;
    item.dataset.end = part.end;
    const token = document.createElement("bdi"); // a right-to-left token keeps its percentage on its right
    token.textContent = visibleForm(form(part));
    const nth = counts.get(form(part)) > 1 ? ` (${occurrence[index]}번째)` : "";
    item.append(token, `${nth} ${(part.attention * 100).toFixed(1)}%`);
    list.append(item);
  }
  box.append(title, list);
  return box;
}

function renderResult(text, prediction) {
  const chars = Array.from(text);
  const parts = segments(prediction.tokens);
  const end = readUpTo(prediction, chars.length);
  const card = document.createElement("article");
  card.className = "result";
  const head = document.createElement("div");
  head.className = "head";
  const label = document.createElement("span");
  label.className = "label";
  label.dataset.label = prediction.label;
  label.textContent = prediction.label;
  head.append(label);
  const flags = document.createElement("span");
  flags.className = "flags";
  flags.textContent = `형태소 ${prediction.tokens.length}개`;
  if (prediction.truncated) {
    flags.textContent += end < chars.length ? ` · 잘림: 앞의 ${modelInfo.max_len}개만 읽었습니다` : " · 잘림: 앞부분만 읽었습니다";
  }
  head.append(flags);
  card.append(head);

  const bars = document.createElement("div");
  bars.className = "bars";
  for (const [name, p] of Object.entries(prediction.probabilities)) {
    const title = document.createElement("span");
    title.textContent = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "prob";
    value.dataset.label = name;
    value.textContent = `${(p * 100).toFixed(1)}%`;
    bars.append(title, bar, value);
  }
  card.append(bars, renderHeat(chars, parts, end));
  if (parts.length) card.append(renderTopTokens(chars, parts));
  return card;
}

function summary(predictions) {
  if (predictions.length !== 1) return `결과 ${predictions.length}개`;
  const p = predictions[0];
  return `결과: ${p.label} ${(p.probabilities[p.label] * 100).toFixed(1)}%`;
}

function setBusy(busy) {
  $("#submit").textContent = busy ? "분석 중…" : "분석하기";
  $("#results").setAttribute("aria-busy", String(busy));
  if (busy) $("#status").textContent = "분석 중…";
}

// The newest request wins: starting one cancels the one before, so a slow old answer never replaces a new one.
async function analyse() {
  if (latest) latest.abort();
  const request = new AbortController();
  latest = request;
  const timer = setTimeout(() => request.abort(new DOMException("timeout", "TimeoutError")), TIMEOUT_MS);
  const raw = $("#text").value;
  let lineNumbers = [];
  showError("");
  setBusy(true);
  try {
    let texts, predictions;
    const init = { method: "POST", headers: { "content-type": "application/json" }, signal: request.signal };
    if (mode() === "batch") {
      const lines = raw.split("\n").map((line, index) => ({ line, number: index + 1 })).filter((l) => l.line.trim());
      if (!lines.length) throw new Error("한 줄 이상 입력하세요");
      texts = lines.map((l) => l.line);
      lineNumbers = lines.map((l) => l.number);
      predictions = (await fetchJson("/v1/predict/batch", { ...init, body: JSON.stringify({ texts }) })).predictions;
    } else {
      if (!raw.trim()) throw new Error("분석할 글을 입력하세요");
      texts = [raw];
      predictions = [await fetchJson("/v1/predict", { ...init, body: JSON.stringify({ text: raw }) })];
    }
    if (!Array.isArray(predictions) || predictions.length !== texts.length || !predictions.every(isPrediction)) {
      throw new Error("서버의 답을 해석할 수 없습니다");
    }
    const served = predictions[0].model;
    if (!modelInfo || (served && served.version !== modelInfo.version)) await loadModelInfo(); // failed, or reloaded
    if (latest !== request) return;
    $("#results").replaceChildren(...predictions.map((p, i) => renderResult(texts[i], p)));
    $("#status").textContent = summary(predictions);
  } catch (error) {
    const message = describeFailure(error, lineNumbers);
    if (message === undefined || latest !== request) return;
    $("#results").replaceChildren();
    $("#status").textContent = "";
    showError(message);
  } finally {
    clearTimeout(timer);
    if (latest === request) setBusy(false);
  }
}

async function loadModelInfo() {
  try {
    modelInfo = await fetchJson("/v1/model");
    const info = modelInfo;
    $("#model-info").textContent = `모델 ${info.name || ""} ${info.version} · 레이블: ${info.labels.join(", ")} · 토크나이저: ${info.tokenizer.name}`;
  } catch (error) {
    $("#model-info").textContent = describeFailure(error, []);
  }
}

$("#submit").addEventListener("click", analyse);
$("#text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) analyse();
});
for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    // Typed over the box's text rather than assigned, so Ctrl+Z brings back what the user had written.
    const box = $("#text");
    box.focus();
    box.select();
    if (!document.execCommand("insertText", false, example.textContent)) box.value = example.textContent;
    analyse();
  });
}
loadModelInfo();
