// The attention viewer: calls the public API and paints each token by its weight.
"use strict";

const $ = (selector) => document.querySelector(selector);
const ACCENT = "232, 89, 12";
const MAX_SHADE = 0.8; // the most-attended token's background opacity; ink on it keeps a 5.5:1 contrast
const TOP_TOKENS = 5;
// How long the page waits: a batch may hold 64 texts of 2,000 characters, which takes the server tens of seconds.
const TIMEOUT_MS = { single: 30000, batch: 120000 };
// A character that shows on its own, as the server counts them (model/tokenizer.py's has_visible_text): not
// whitespace, not an invisible format character, not a mark that only combines, not a blank Hangul filler.
// (\s lacks U+001C-U+001F and U+0085, which Python's str.isspace counts.)
const VISIBLE = /[^\s\x1C-\x1F\x85\p{Cf}\p{Mn}\p{Me}\u115F\u1160\u3164\uFFA0\u2800]/u;

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

// The API counts code points; a user counts the characters they see. A family emoji is one character of five
// code points, and Hangul pasted from a Mac (decomposed) is one syllable of two or three.
function graphemeStarts(text) {
  if (typeof text !== "string" || typeof Intl === "undefined" || !Intl.Segmenter) return null;
  return Array.from(new Intl.Segmenter("ko", { granularity: "grapheme" }).segment(text), (s) => s.index);
}

// The 1-based number of the character the user sees at code point `position` of `text`.
function seenCharacter(text, position) {
  const starts = graphemeStarts(text);
  if (!starts) return position + 1;
  const offset = Array.from(text).slice(0, position).join("").length; // in UTF-16 units, as Intl counts
  return starts.filter((start) => start <= offset).length;
}

// "2300자" when what the user sees is as long; otherwise it says which count is meant.
function describeLength(text, length, limit) {
  const starts = graphemeStarts(text);
  if (!starts || starts.length === length) return `${length}자입니다. ${limit}자까지 분석할 수 있습니다`;
  return `유니코드 코드 포인트 ${length}개입니다 (보이는 글자로는 ${starts.length}자). 코드 포인트 ${limit}개까지 분석할 수 있습니다`;
}

// The problems a user of this page can cause, in Korean, from the values in the problem's `ctx` (a position
// counts code points from 0) and the text it is about; the API's English `msg` covers the rest, and a problem
// without those values.
const KOREAN_PROBLEMS = {
  blank_text: () => "보이는 글자가 없습니다. 분석할 글을 입력하세요",
  control_character: ({ name, position }, text) =>
    Number.isInteger(position) &&
    `${seenCharacter(text, position)}번째 글자가 제어 문자(${name})입니다. 탭과 줄바꿈 말고는 쓸 수 없습니다`,
  invalid_unicode: ({ name, position }, text) =>
    Number.isInteger(position) &&
    `${seenCharacter(text, position)}번째 글자(${name})가 짝 없는 서로게이트입니다. 올바른 유니코드가 아닙니다`,
  string_too_long: ({ length, limit }, text) => Number.isInteger(limit) && describeLength(text, length, limit),
  too_long: ({ length, limit }) => Number.isInteger(limit) && `${length}줄입니다. 한 번에 ${limit}줄까지 분석할 수 있습니다`,
  more_problems: ({ count }) => Number.isInteger(count) && `그 밖에도 문제가 ${count}개 더 있습니다`,
};

// The text a problem is about: ["body", "text"] is the one text, ["body", "texts", i] the i-th.
function problemText(loc, texts) {
  if (!Array.isArray(loc)) return undefined;
  return loc[1] === "texts" ? texts[loc[2]] : loc[1] === "text" ? texts[0] : undefined;
}

function describeProblem(problem, texts = []) {
  const korean = KOREAN_PROBLEMS[problem.type];
  return (korean && korean(problem.ctx || {}, problemText(problem.loc, texts))) || problem.msg || JSON.stringify(problem);
}

// What an answer's status means for the user; the server's own words (English) follow in brackets.
const KOREAN_STATUS = {
  408: "글이 제시간에 다 도착하지 않았습니다. 다시 보내세요",
  413: "보낸 글이 너무 큽니다. 줄 수를 줄이거나 나눠서 보내세요",
  415: "서버가 이 형식의 요청을 받지 않습니다",
  500: "서버 내부 오류입니다",
  503: "서버가 바쁩니다. 잠시 후 다시 시도하세요",
};

function describeError(status, body, lineNumbers = [], texts = []) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return `오류 ${status}: ` + detail.map((d) => linePrefix(d.loc, lineNumbers) + describeProblem(d, texts)).join("; ");
  }
  const said = typeof detail === "string" ? detail : "";
  const meaning = KOREAN_STATUS[status];
  if (meaning) return `오류 ${status}: ${meaning}` + (said ? ` (${said})` : "");
  return `오류 ${status}: ${said || "서버가 이유를 알려 주지 않았습니다"}`;
}

// What went wrong, in words for the user; undefined for a request a newer one replaced (nothing to show).
function describeFailure(error, lineNumbers, texts, waited) {
  if (error instanceof ApiError) return describeError(error.status, error.body, lineNumbers, texts);
  if (error.name === "AbortError") return undefined;
  if (error.name === "TimeoutError") {
    const fewer = texts.length > 1 ? " 줄 수를 줄이거나 짧게 나눠서 다시 보내세요." : " 다시 시도하세요.";
    return `서버가 ${waited / 1000}초 안에 답하지 않았습니다.` + fewer;
  }
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
  if (VISIBLE.test(form)) return form;
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
  const waited = TIMEOUT_MS[mode()];
  const timer = setTimeout(() => request.abort(new DOMException("timeout", "TimeoutError")), waited);
  const raw = $("#text").value;
  let lineNumbers = [];
  let texts = [];
  showError("");
  setBusy(true);
  try {
    let predictions;
    const init = { method: "POST", headers: { "content-type": "application/json" }, signal: request.signal };
    if (mode() === "batch") {
      // Lines with nothing visible are skipped like empty ones (a zero-width space, a blank filler U+3164).
      const lines = raw.split("\n").map((line, index) => ({ line, number: index + 1 })).filter((l) => VISIBLE.test(l.line));
      if (!lines.length) throw new Error("한 줄 이상 입력하세요");
      texts = lines.map((l) => l.line);
      lineNumbers = lines.map((l) => l.number);
      const answer = await fetchJson("/v1/predict/batch", { ...init, body: JSON.stringify({ texts }) });
      predictions = answer && answer.predictions; // a 200 that is not the API's answer (a proxy's page) is checked below
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
    const message = describeFailure(error, lineNumbers, texts, waited);
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
    $("#model-info").textContent = describeFailure(error, [], [], TIMEOUT_MS.single);
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
