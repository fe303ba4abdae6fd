// #/deploy : deploy a version.  With a parent, the form previews first
// (POST /v1/machines/preview: counts by reason, landing states, sample actors
// per group) and deploys only on confirmation, carrying the preview's token:
// if the actors changed meanwhile the server answers 409 preview-stale with
// the new counts and nothing is written, and the form asks to preview again.

import { api } from "../api.js";
import { h, replace, route, link, stateText, plural, table, tableRow, problemBox, pathChips } from "../dom.js";
import { reasonList } from "./deployments.js";

const SAMPLES = 8;

const REASONS = {
  "history-match": ["migrate", "history starts with the path"],
  "no-history-path": ["migrate", "no path: every actor is eligible"],
  done: ["stay", "finished actors stay"],
  "history-too-short": ["stay", "history is a proper prefix of the path; may match a later deploy"],
  "history-mismatch": ["stay", "history does not start with the path"],
  "replay-diverged": ["stay", "the new definition does not handle one of its events"],
};

export async function deployPage(ctx) {
  ctx.setTitle("Deploy");
  const canDeploy = ctx.session.canDeploy;
  ctx.main.append(h("h1", {}, "Deploy a version"));
  if (!canDeploy) {
    ctx.main.append(
      h("p", { class: "notice", id: "read-only-note" },
        "This API key cannot deploy (deploying needs an admin key). You can read the form; its buttons are disabled."),
    );
  }
  ctx.main.append(
    h("p", { class: "lead" },
      "A version with a parent is previewed first: you see which actors would migrate and where they would land, and which would stay and why. " +
      "Deploying then applies exactly that preview, or nothing if the actors changed in between."),
  );

  // -- the form -------------------------------------------------------------------------
  const idInput = h("input", { id: "deploy-id", name: "id", required: true, autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9][A-Za-z0-9._:@~\\-]{0,127}", "aria-describedby": "deploy-id-help" });
  const parentSelect = h("select", { id: "deploy-parent", name: "parentId", "aria-describedby": "deploy-parent-help" }, h("option", { value: "" }, "None: a new root version"));
  const pathInput = h("input", { id: "deploy-path", name: "historyPath", autocomplete: "off", spellcheck: "false", "aria-describedby": "deploy-path-help" });
  const definitionInput = h("textarea", { id: "deploy-definition", name: "definition", rows: "16", required: true, spellcheck: "false", "aria-describedby": "deploy-definition-help" });
  const previewButton = h("button", { type: "submit", id: "preview-button", disabled: !canDeploy }, "Preview");
  const formError = h("div", { id: "deploy-form-error" });
  const form = h(
    "form",
    { id: "deploy-form", class: "card", "aria-label": "Deploy a version", method: "post", action: "#" },
    h("div", { class: "field" }, h("label", { for: "deploy-id" }, "Version id"), idInput,
      h("p", { id: "deploy-id-help", class: "help" }, "Unique, e.g. loan-v2.")),
    h("div", { class: "field" }, h("label", { for: "deploy-parent" }, "Parent version"), parentSelect,
      h("p", { id: "deploy-parent-help", class: "help" }, "The version whose actors this one may take over.")),
    h("div", { class: "field" }, h("label", { for: "deploy-path" }, "History path"), pathInput,
      h("p", { id: "deploy-path-help", class: "help" },
        "Event types separated by commas, e.g. SUBMIT_INFO, PAY_FEE. Actors whose history starts with this path migrate; empty: every actor on the parent is eligible.")),
    h("div", { class: "field" }, h("label", { for: "deploy-definition" }, "Definition (XState v5 JSON)"), definitionInput,
      h("p", { id: "deploy-definition-help", class: "help" },
        "The machine config. A whole deploy file ({id, parentId, historyPath, definition}) also works: its fields fill the form. Ctrl+Enter previews.")),
    h("div", { class: "actions" }, previewButton),
    formError,
  );
  const result = h("section", { id: "deploy-result", "aria-live": "polite" });
  ctx.main.append(form, result);

  try {
    const { items } = await api("/v1/machines");
    if (!ctx.alive()) return;
    for (const v of items) parentSelect.append(h("option", { value: v.id }, v.id));
  } catch (err) {
    formError.append(problemBox(err, "The versions could not be listed."));
  }

  let current = null; // {body, preview} of the preview on screen

  const readForm = () => {
    let definition;
    try {
      definition = JSON.parse(definitionInput.value);
    } catch (err) {
      throw fieldError("The definition is not valid JSON: " + err.message, definitionInput);
    }
    if (!definition || typeof definition !== "object" || Array.isArray(definition)) throw fieldError("The definition must be a JSON object.", definitionInput);
    if (definition.definition && typeof definition.definition === "object" && !definition.states) {
      // A whole deploy file: let its fields fill the empty ones.
      const file = definition;
      if (!idInput.value && typeof file.id === "string") idInput.value = file.id;
      if (!parentSelect.value && typeof file.parentId === "string") {
        if (![...parentSelect.options].some((o) => o.value === file.parentId)) parentSelect.append(h("option", { value: file.parentId }, file.parentId));
        parentSelect.value = file.parentId;
      }
      if (!pathInput.value && Array.isArray(file.historyPath)) pathInput.value = file.historyPath.join(", ");
      definition = file.definition;
      definitionInput.value = JSON.stringify(definition, null, 2);
    }
    const id = idInput.value.trim();
    if (!id) throw fieldError("Enter the new version's id.", idInput);
    const body = { id, definition };
    const parentId = parentSelect.value;
    const path = pathInput.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (parentId) body.parentId = parentId;
    if (path.length) {
      if (!parentId) throw fieldError("A history path needs a parent version.", pathInput);
      body.historyPath = path;
    }
    return body;
  };

  const invalidate = () => {
    if (!current) return;
    current = null;
    const button = result.querySelector("#deploy-button");
    if (button) button.disabled = true;
    const note = result.querySelector("#preview-outdated");
    if (note) note.hidden = false;
  };
  for (const el of [idInput, parentSelect, pathInput, definitionInput]) el.addEventListener("input", invalidate);
  definitionInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const doPreview = async () => {
    replace(formError);
    let body;
    try {
      body = readForm();
    } catch (err) {
      formError.append(problemBox(err));
      if (err.field) err.field.focus();
      return;
    }
    previewButton.disabled = true;
    replace(result, h("p", { class: "loading", role: "status" }, body.parentId ? "Evaluating every actor on the parent…" : "Checking…"));
    try {
      if (!body.parentId) {
        current = { body, preview: null };
        replace(result, rootConfirm(body));
      } else {
        const preview = await api("/v1/machines/preview", { method: "POST", body });
        if (!ctx.alive()) return;
        current = { body, preview };
        replace(result, previewView(body, preview));
      }
      const button = result.querySelector("#deploy-button");
      button.disabled = !canDeploy;
      button.addEventListener("click", doDeploy);
      const heading = result.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    } catch (err) {
      replace(result, problemBox(err, err.status === 403 ? "This API key may not preview or deploy." : "The preview failed."));
    } finally {
      previewButton.disabled = !canDeploy;
    }
  };

  const doDeploy = async () => {
    if (!current) return;
    const { body, preview } = current;
    const button = result.querySelector("#deploy-button");
    button.disabled = true;
    const outcome = result.querySelector("#deploy-outcome");
    replace(outcome, h("p", { class: "loading", role: "status" }, "Deploying…"));
    const request = preview ? { ...body, expect: { previewToken: preview.previewToken } } : body;
    try {
      const answer = await api("/v1/machines", { method: "POST", body: request });
      if (!ctx.alive()) return;
      current = null;
      replace(outcome, deployedView(answer));
      outcome.querySelector("h3").focus();
    } catch (err) {
      if (err.slug === "preview-stale") {
        current = null;
        replace(outcome, staleView(err.problem, doPreview));
        outcome.querySelector("button").focus();
      } else {
        button.disabled = !canDeploy;
        replace(outcome, problemBox(err, err.status === 403 ? "Refused: this API key may not deploy." : "The deploy failed; nothing was written."));
      }
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    doPreview();
  });
}

function fieldError(message, field) {
  const err = new Error(message);
  err.field = field;
  return err;
}

function rootConfirm(body) {
  return [
    h("h2", {}, `Deploy ${body.id} as a new root version`),
    h("p", {}, "It has no parent: no actor is evaluated, nothing migrates. New actors can then be spawned on it."),
    h("div", { class: "actions" }, h("button", { type: "button", id: "deploy-button", class: "primary" }, `Deploy ${body.id}`)),
    h("div", { id: "deploy-outcome", "aria-live": "polite" }),
  ];
}

function previewView(body, preview) {
  const { counts, migration } = preview;
  const migrate = migration ? migration.wouldMigrate : [];
  const stay = migration ? migration.wouldStay : [];

  // Landing states: from -> to, with counts.
  const landings = new Map();
  for (const m of migrate) {
    const key = `${stateText(m.from)}\u0000${stateText(m.to)}`;
    landings.set(key, (landings.get(key) || 0) + 1);
  }
  const landingRows = [...landings.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => {
      const [from, to] = key.split("\u0000");
      return tableRow([h("span", { class: "state" }, to), h("span", { class: "state" }, from), String(n)], { dataset: { landing: to } });
    });

  // Groups: migrating actors by landing state, staying actors by reason.
  const groups = [];
  const byTo = new Map();
  for (const m of migrate) {
    const to = stateText(m.to);
    if (!byTo.has(to)) byTo.set(to, []);
    byTo.get(to).push(m);
  }
  for (const [to, members] of byTo) {
    groups.push(
      groupView(`migrate:${to}`, ["Migrate → ", h("span", { class: "state" }, to)], members.length, "decision-migrate",
        members.slice(0, SAMPLES).map((m) => [link(route("actors", m.actorId), m.actorId), " ", h("span", { class: "muted" }, `${stateText(m.from)} → ${stateText(m.to)}`)])),
    );
  }
  const byReason = new Map();
  for (const s of stay) {
    if (!byReason.has(s.reason)) byReason.set(s.reason, []);
    byReason.get(s.reason).push(s);
  }
  for (const [reason, members] of byReason) {
    groups.push(
      groupView(`stay:${reason}`, ["Stay: ", reason], members.length, "decision-stay",
        members.slice(0, SAMPLES).map((s) => [
          link(route("actors", s.actorId), s.actorId),
          " ",
          h("span", { class: "muted" }, `stays in ${stateText(s.state)}${s.divergedSeq !== undefined ? `, event #${s.divergedSeq} not handled` : ""}`),
        ]),
        REASONS[reason] ? REASONS[reason][1] : null),
    );
  }

  const reasonRows = Object.entries(counts.byReason || {})
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => tableRow([reason, (REASONS[reason] || ["?"])[0], String(n), (REASONS[reason] || [null, ""])[1]], { dataset: { reason } }));

  return [
    h("h2", { id: "preview-h" }, `Preview: ${body.id} from ${body.parentId}`),
    h("p", { class: "summary", id: "preview-summary" },
      `${plural(counts.evaluated, "actor")} evaluated: `,
      h("strong", { dataset: { count: "migrated" } }, `${counts.migrated} would migrate`),
      ", ",
      h("strong", { dataset: { count: "stayed" } }, `${counts.stayed} would stay`),
      ". History path: ", pathChips(body.historyPath), "."),
    h("div", { class: "two-col" },
      table("Counts by reason", ["Reason", "Decision", "Actors", "Meaning"], reasonRows, { id: "preview-reasons" }),
      landingRows.length
        ? table("Landing states", ["Landing state", "From state", "Actors"], landingRows, { id: "preview-landings" })
        : h("p", { class: "muted" }, "No actor would migrate.")),
    h("h3", {}, "Groups, with sample actors"),
    groups.length ? h("div", { class: "groups" }, groups) : h("p", { class: "muted" }, "The parent has no actor."),
    h("p", { class: "help" }, "Preview token ", h("code", { id: "preview-token" }, preview.previewToken),
      ": the deploy below carries it and is applied only if the decisions are still exactly these."),
    h("p", { class: "notice", id: "preview-outdated", hidden: true }, "The form changed since this preview: preview again before deploying."),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "deploy-button", class: "primary" },
        `Deploy ${body.id}: ${counts.migrated} migrate, ${counts.stayed} stay`)),
    h("div", { id: "deploy-outcome", "aria-live": "polite" }),
  ];
}

function groupView(key, title, count, cls, samples, explanation) {
  return h(
    "section",
    { class: `group ${cls}`, dataset: { group: key }, "aria-label": `${key}: ${count}` },
    h("h4", {}, title, " ", h("span", { class: "badge" }, String(count))),
    explanation ? h("p", { class: "help" }, explanation) : null,
    h("ul", { class: "samples" }, samples.map((s) => h("li", {}, s))),
    count > samples.length ? h("p", { class: "muted" }, `and ${count - samples.length} more`) : null,
  );
}

function deployedView(answer) {
  const v = answer.version;
  const d = answer.deployment;
  return h(
    "div",
    { class: "success", role: "status", id: "deploy-success" },
    h("h3", { tabindex: "-1" }, `Deployed ${v.id}`),
    d
      ? h("p", {}, link(route("deployments", d.deploymentId), d.deploymentId), `: ${d.evaluated} evaluated, ${d.migrated} migrated, ${d.stayed} stayed.`)
      : h("p", {}, "A root version: nothing was evaluated."),
    d ? reasonList(d.byReason) : null,
    h("p", {}, link(route("versions", v.id), `Open ${v.id}`), v.parentId ? [" · ", link(route("versions", v.parentId), `Open ${v.parentId}`)] : null),
  );
}

function staleView(problem, previewAgain) {
  const counts = (problem && problem.counts) || null;
  const again = h("button", { type: "button", class: "primary", id: "preview-again" }, "Preview again");
  again.addEventListener("click", previewAgain);
  return h(
    "div",
    { class: "problem", role: "alert", id: "preview-stale" },
    h("p", { class: "problem-title" }, "The actors changed since this preview; nothing was deployed."),
    problem && problem.detail ? h("p", {}, problem.detail) : null,
    counts
      ? [
          h("p", {}, `Now: ${plural(counts.evaluated, "actor")} evaluated, ${counts.migrated} would migrate, ${counts.stayed} would stay.`),
          reasonList(counts.byReason),
        ]
      : null,
    h("p", {}, "Preview again to see who moves now, then deploy."),
    h("div", { class: "actions" }, again),
  );
}
