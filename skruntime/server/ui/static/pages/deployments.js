// #/deployments : every deployment with its counts by reason (newest first).
// #/deployments/ID : one deployment and its decisions, paged.

import { api, allPages } from "../api.js";
import { h, append, route, link, timeEl, pathChips, stateText, facts, table, tableRow, scrollable, problemBox, loading } from "../dom.js";

const DECISIONS_PAGE = 100;

export function reasonList(byReason) {
  const entries = Object.entries(byReason || {});
  if (entries.length === 0) return h("span", { class: "muted" }, "—");
  return h(
    "ul",
    { class: "reasons" },
    entries.sort((a, b) => b[1] - a[1]).map(([reason, n]) => h("li", { dataset: { reason } }, h("span", { class: `pill reason-${reason}` }, reason), " ", String(n))),
  );
}

export async function deploymentsPage(ctx) {
  ctx.setTitle("Deployments");
  ctx.main.append(
    h("h1", {}, "Deployments"),
    h("p", { class: "lead" }, "A deployment evaluated every actor on the parent version once: each migrated or stayed, for a reason."),
  );
  const status = loading("Loading deployments…");
  ctx.main.append(status);
  const { items, complete } = await allPages("/v1/deployments");
  if (!ctx.alive()) return;
  status.remove();
  if (items.length === 0) {
    ctx.main.append(h("p", {}, "No deployment yet: versions deployed with a parent appear here."));
    return;
  }
  const rows = items
    .slice()
    .reverse()
    .map((d) =>
      tableRow(
        [
          link(route("deployments", d.deploymentId), d.deploymentId),
          link(route("versions", d.versionId), d.versionId),
          link(route("versions", d.parentId), d.parentId),
          pathChips(d.historyPath),
          timeEl(d.createdAt),
          d.status,
          String(d.evaluated),
          String(d.migrated),
          String(d.stayed),
          reasonList(d.byReason),
        ],
        { dataset: { deployment: d.deploymentId } },
      ),
    );
  append(ctx.main, [
    scrollable(table("Deployments, newest first", ["Deployment", "Version", "Parent", "History path", "Created", "Status", "Evaluated", "Migrated", "Stayed", "By reason"], rows, {
      id: "deployments-table",
      class: "wide",
    })),
    complete ? null : h("p", { class: "muted" }, "Only the oldest deployments are shown; there are more."),
  ]);
}

export async function deploymentPage(ctx) {
  const [deploymentId] = ctx.params;
  ctx.setTitle(`Deployment ${deploymentId}`);
  ctx.main.append(h("h1", {}, "Deployment ", h("span", { class: "id" }, deploymentId)));
  const status = loading();
  ctx.main.append(status);
  const d = await api("/v1/deployments/" + encodeURIComponent(deploymentId));
  if (!ctx.alive()) return;
  status.remove();
  ctx.main.append(
    h("div", { class: "two-col" },
      h("section", { class: "card", "aria-labelledby": "what-h" },
        h("h2", { id: "what-h" }, "What it did"),
        facts([
          ["Version", link(route("versions", d.versionId), d.versionId)],
          ["Parent", link(route("versions", d.parentId), d.parentId)],
          ["History path", pathChips(d.historyPath)],
          ["Created", timeEl(d.createdAt)],
          ["Status", d.status],
          ["Evaluated", String(d.evaluated)],
          ["Migrated", String(d.migrated)],
          ["Stayed", String(d.stayed)],
        ])),
      h("section", { class: "card", "aria-labelledby": "reasons-h" }, h("h2", { id: "reasons-h" }, "Counts by reason"), reasonList(d.byReason))),
  );

  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary" }, "Load more decisions");
  const section = h(
    "section",
    { "aria-labelledby": "decisions-h" },
    h("h2", { id: "decisions-h" }, "Decisions"),
    scrollable(h("table", { class: "wide", id: "deployment-decisions" },
      h("caption", { class: "visually-hidden" }, `Decisions of ${deploymentId}`),
      h("thead", {}, h("tr", {}, ["Actor", "Decision", "Reason", "From state", "Landing state", "k", "Fingerprint", "Prefix hash"].map((c) => h("th", { scope: "col" }, c)))),
      tbody)),
    more,
  );
  ctx.main.append(section);
  let cursor = null;
  const loadPage = async () => {
    more.disabled = true;
    const page = await api(`/v1/deployments/${encodeURIComponent(deploymentId)}/decisions`, { query: { cursor, limit: DECISIONS_PAGE } });
    if (!ctx.alive()) return;
    for (const x of page.items) {
      tbody.append(
        tableRow([
          link(route("actors", x.actorId), x.actorId),
          h("span", { class: `pill decision-${x.decision}` }, x.decision),
          h("span", { class: "nowrap" }, x.reason, x.divergedSeq !== undefined ? ` (event #${x.divergedSeq})` : ""),
          x.fromState !== undefined ? stateText(x.fromState) : "—",
          x.landingState !== null && x.landingState !== undefined ? stateText(x.landingState) : "—",
          String(x.k),
          h("code", {}, x.fingerprint),
          x.prefixHash ? h("code", {}, x.prefixHash) : "—",
        ]),
      );
    }
    cursor = page.nextCursor;
    more.hidden = !cursor;
    more.disabled = false;
  };
  more.addEventListener("click", () => loadPage().catch((err) => section.append(problemBox(err))));
  await loadPage();
}
