// A statechart drawn as nested boxes (HTML, no layout engine):
// compound states contain their children, parallel regions sit side by side
// with a dashed separator, the initial child is marked, final states have a
// double border, history states are a circled H, and each state lists its
// transitions ("EVENT [guard] → target").  Every state carries a badge with
// the number of actors in it (for a compound state: in it or below it),
// linked to the actors list; update() refreshes the badges in place.

import { h, routeQuery, plural } from "./dom.js";

/** The definition as a tree of nodes {key, path, type, ...}. */
export function parseDefinition(definition) {
  return node(definition.id || "(machine)", definition, "", null);
}

function node(key, config, path, parent) {
  const states = config.states && typeof config.states === "object" ? config.states : {};
  const childKeys = Object.keys(states);
  let type = config.type || (childKeys.length ? "compound" : "atomic");
  const n = {
    key,
    path,
    type,
    id: config.id || null,
    initial: typeof config.initial === "string" ? config.initial : config.initial && config.initial.target,
    history: config.history || (type === "history" ? "shallow" : null),
    description: typeof config.description === "string" ? config.description : null,
    tags: Array.isArray(config.tags) ? config.tags : config.tags ? [config.tags] : [],
    entry: actionNames(config.entry),
    exit: actionNames(config.exit),
    transitions: transitions(config),
    parent,
    children: [],
  };
  for (const childKey of childKeys) {
    n.children.push(node(childKey, states[childKey] || {}, path ? `${path}.${childKey}` : childKey, n));
  }
  return n;
}

function list(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function actionNames(actions) {
  return list(actions).map((a) => (typeof a === "string" ? a : a && typeof a === "object" ? a.type || "action" : String(a)));
}

/** Every transition of a state config as {label, kind, guard, targets, actions, reenter}. */
function transitions(config) {
  const out = [];
  const add = (label, kind, spec) => {
    for (const t of list(spec)) {
      if (typeof t === "string") out.push({ label, kind, guard: null, targets: [t], actions: [], reenter: false });
      else if (t && typeof t === "object") {
        out.push({
          label,
          kind,
          guard: t.guard === undefined ? null : guardText(t.guard),
          targets: list(t.target).map(String),
          actions: actionNames(t.actions),
          reenter: Boolean(t.reenter),
          description: typeof t.description === "string" ? t.description : null,
        });
      }
    }
  };
  if (config.on && typeof config.on === "object") for (const [event, spec] of Object.entries(config.on)) add(event, "event", spec);
  if (config.always !== undefined) add("always", "always", config.always);
  if (config.after && typeof config.after === "object") {
    for (const [delay, spec] of Object.entries(config.after)) add(`after ${delay} ms`, "after", spec);
  }
  if (config.onDone !== undefined) add("done", "done", config.onDone);
  return out;
}

/** A guard as text: isEligible, a && b, !(x), in(#review.pending). */
export function guardText(guard) {
  if (typeof guard === "string") return guard;
  if (!guard || typeof guard !== "object") return String(guard);
  const operands = list(guard.guards).map(guardText);
  switch (guard.type) {
    case "and":
      return operands.length ? operands.map(wrap).join(" && ") : "true";
    case "or":
      return operands.length ? operands.map(wrap).join(" || ") : "false";
    case "not":
      return "!" + wrap(operands[0] || "?");
    case "stateIn":
      return `in(${typeof guard.stateValue === "string" ? guard.stateValue : JSON.stringify(guard.stateValue)})`;
    default:
      return guard.params === undefined ? String(guard.type) : `${guard.type}(${JSON.stringify(guard.params)})`;
  }
}

function wrap(text) {
  return /[ &|]/.test(text) ? `(${text})` : text;
}

/**
 * Actors in each state of the tree, from `byState` (actors per atomic state
 * path, {"a.b": n}): an atomic state has its own count; a compound state the
 * sum of its children's; a parallel state the count of one region (each of
 * its actors is in every region).  Returns Map path -> count.
 */
export function countTree(root, byState) {
  const counts = new Map();
  const visit = (n) => {
    const own = (byState && byState[n.path]) || 0;
    const kids = n.children.filter((c) => c.type !== "history").map(visit);
    const below = kids.length === 0 ? 0 : n.type === "parallel" ? Math.max(...kids) : kids.reduce((a, b) => a + b, 0);
    const total = own + below;
    counts.set(n.path, total);
    return total;
  };
  visit(root);
  return counts;
}

/** Every state path of the tree (for the state filter's suggestions). */
export function statePaths(root) {
  const out = [];
  const walk = (n) => {
    if (n.path && n.type !== "history") out.push(n.path);
    n.children.forEach(walk);
  };
  walk(root);
  return out;
}

/**
 * Draw `definition`.  Returns {element, update(byState)}.
 * @param {object} definition the version's definition
 * @param {string} versionId for the badges' links
 */
export function drawChart(definition, versionId) {
  const root = parseDefinition(definition);
  const badges = new Map(); // path -> badge element
  const element = h(
    "figure",
    { class: "chart" },
    h("figcaption", { class: "legend" }, legend()),
    h("div", { class: "chart-canvas" }, stateBox(root, true, versionId, badges)),
  );
  return {
    element,
    root,
    update(byState) {
      const counts = countTree(root, byState);
      for (const [path, badge] of badges) {
        const n = counts.get(path) || 0;
        badge.textContent = String(n);
        badge.classList.toggle("zero", n === 0);
        const where = path === "" ? "this version" : path;
        badge.setAttribute("aria-label", `${plural(n, "actor")} in ${where}`);
        badge.title = `${plural(n, "actor")} in ${where}`;
      }
    },
  };
}

function legend() {
  return [
    h("span", { class: "legend-item" }, h("span", { class: "initial-marker", "aria-hidden": "true" }, "●→"), " initial state"),
    h("span", { class: "legend-item" }, h("span", { class: "legend-final", "aria-hidden": "true" }), " final state"),
    h("span", { class: "legend-item" }, h("span", { class: "legend-region", "aria-hidden": "true" }), " parallel regions"),
    h("span", { class: "legend-item" }, h("span", { class: "badge" }, "n"), " actors in the state (live)"),
    h("span", { class: "legend-item" }, h("code", { class: "event" }, "EVENT"), " ", h("span", { class: "guard" }, "[guard]"), " → target"),
  ];
}

function stateBox(n, isRoot, versionId, badges) {
  const parent = n.parent;
  const isInitial = parent && parent.type === "compound" && parent.initial === n.key;
  const classes = ["state-box", `state-${n.type}`];
  if (isRoot) classes.push("state-root");
  if (isInitial) classes.push("state-initial");
  const kind =
    n.type === "history" ? `history (${n.history === "deep" ? "deep" : "shallow"})` : n.type === "atomic" || n.type === "compound" ? null : n.type;

  const badge = h("a", { class: "badge", href: routeQuery("actors", { versionId, state: n.path }) }, "0");
  if (n.type !== "history") badges.set(n.path, badge);

  const head = h(
    "div",
    { class: "state-head" },
    isInitial ? h("span", { class: "initial-marker", title: "initial state", "aria-label": "initial state:" }, "●→") : null,
    n.type === "history" ? h("span", { class: "history-mark", "aria-hidden": "true" }, n.history === "deep" ? "H*" : "H") : null,
    h("span", { class: "state-name" }, isRoot ? `machine ${n.key}` : n.key),
    kind ? h("span", { class: "state-kind" }, kind) : null,
    n.type === "history" ? null : badge,
  );

  const box = h("div", { class: classes.join(" "), dataset: { path: n.path }, role: "group", "aria-label": `state ${isRoot ? n.key : n.path}` }, head);
  if (n.description) box.append(h("p", { class: "state-desc" }, n.description));
  const extras = [];
  if (n.entry.length) extras.push(h("li", { class: "action" }, "entry / ", n.entry.join(", ")));
  if (n.exit.length) extras.push(h("li", { class: "action" }, "exit / ", n.exit.join(", ")));
  if (n.tags.length) extras.push(h("li", { class: "action" }, "tags: ", n.tags.join(", ")));
  if (n.transitions.length || extras.length) {
    box.append(h("ul", { class: "transitions", "aria-label": `transitions of ${n.key}` }, n.transitions.map(transitionItem), extras));
  }
  if (n.children.length) {
    if (n.type === "parallel") {
      box.append(
        h("div", { class: "regions", role: "group", "aria-label": `parallel regions of ${n.key}` },
          n.children.map((c) => h("div", { class: "region" }, stateBox(c, false, versionId, badges)))),
      );
    } else {
      box.append(h("div", { class: "children" }, n.children.map((c) => stateBox(c, false, versionId, badges))));
    }
  }
  return box;
}

function transitionItem(t) {
  const label = t.kind === "event" ? h("code", { class: "event" }, t.label) : h("span", { class: `event event-${t.kind}` }, t.label);
  const targets = t.targets.length
    ? t.targets.map((target, i) => [i ? ", " : "", h("span", { class: "target" }, target)])
    : [h("span", { class: "target target-none" }, "(no target)")];
  return h(
    "li",
    { class: "transition" },
    label,
    t.guard !== null ? [" ", h("span", { class: "guard" }, `[${t.guard}]`)] : null,
    h("span", { class: "arrow", "aria-label": "goes to" }, " → "),
    targets,
    t.reenter ? h("span", { class: "muted" }, " (reenter)") : null,
    t.actions.length ? h("span", { class: "actions" }, " / ", t.actions.join(", ")) : null,
  );
}
