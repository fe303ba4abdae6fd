// DOM helpers.  Everything that comes from the server is put on the page as
// text (createElement + textContent); nothing here ever parses HTML.

/**
 * Make an element.  `attrs`: `class`, `for`, `text`, `dataset` (object),
 * `on` (object of event listeners), booleans (true sets, false omits) and
 * plain attributes.  Children: nodes, strings (as text), arrays, null (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings as text, arrays, null skipped). */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child of `el`, then append `children`. */
export function replace(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return append(el, children);
}

/** A link inside the dashboard: `#/` + the path parts, each encoded. */
export function route(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
}

/** `#/actors?versionId=..&state=..` */
export function routeQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") params.set(k, v);
  const text = params.toString();
  return "#/" + path + (text ? "?" + text : "");
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}

/** Dotted paths of the atomic states in an XState state value. */
export function leafPaths(value, prefix = "") {
  if (typeof value === "string") return [prefix + value];
  if (value === null || typeof value !== "object") return [];
  const keys = Object.keys(value);
  if (keys.length === 0) return prefix ? [prefix.slice(0, -1)] : [];
  return keys.flatMap((k) => leafPaths(value[k], prefix + k + "."));
}

/** A state value as text: `awaiting_docs`, or `review.legal, review.finance`. */
export function stateText(value) {
  const paths = leafPaths(value);
  return paths.length ? paths.join(", ") : "—";
}

export function jsonText(value) {
  return JSON.stringify(value, null, 2);
}

/** An ISO time as the browser's local date and time, in a <time>. */
export function timeEl(iso) {
  if (!iso) return h("span", {}, "—");
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  return h("time", { datetime: String(iso), title: String(iso) }, text);
}

export function plural(n, one, many = one + "s") {
  return `${n} ${n === 1 ? one : many}`;
}

/** A definition list from [label, value] pairs (value: node or text). */
export function facts(pairs, attrs = {}) {
  const dl = h("dl", { class: "facts", ...attrs });
  for (const [label, value, key] of pairs) {
    dl.append(h("dt", {}, label), h("dd", key ? { dataset: { fact: key } } : {}, value));
  }
  return dl;
}

/** A table with a caption, header cells (scope=col) and rows of cells. */
export function table(caption, headers, rows, attrs = {}) {
  const tbody = h("tbody");
  for (const row of rows) tbody.append(row instanceof Node ? row : tableRow(row));
  return h(
    "table",
    attrs,
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    tbody,
  );
}

/** A wide table in a box that scrolls sideways on narrow screens. */
export function scrollable(tableEl) {
  return h("div", { class: "table-wrap" }, tableEl);
}

/** A row; the first cell is a row header. */
export function tableRow(cells, attrs = {}) {
  return h("tr", attrs, cells.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, cell) : h("td", {}, cell))));
}

/** A row of event-type chips: SUBMIT_INFO → PAY_FEE. */
export function pathChips(path) {
  if (!path || path.length === 0) return h("span", { class: "muted" }, "none");
  const out = h("span", { class: "path" });
  path.forEach((type, i) => {
    if (i) out.append(h("span", { class: "path-sep", "aria-hidden": "true" }, " → "));
    out.append(h("code", { class: "chip" }, type));
  });
  out.setAttribute("aria-label", "history path: " + path.join(", then "));
  return out;
}

/** An error box for an ApiError or any Error. */
export function problemBox(error, lead) {
  const problem = error && error.problem;
  const box = h("div", { class: "problem", role: "alert" });
  if (lead) box.append(h("p", { class: "problem-lead" }, lead));
  if (problem) {
    box.append(h("p", { class: "problem-title" }, `${problem.status || error.status} ${problem.title || "Error"}`));
    if (problem.detail) box.append(h("p", { class: "problem-detail" }, problem.detail));
    if (problem.pointer) box.append(h("p", { class: "problem-pointer" }, "at ", h("code", {}, problem.pointer)));
  } else {
    box.append(h("p", { class: "problem-detail" }, (error && error.message) || String(error)));
  }
  return box;
}

/** A short-lived "loading" paragraph (announced politely). */
export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}
