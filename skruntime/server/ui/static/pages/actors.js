// #/actors?versionId=&state= : actors filtered by version and state (the
// API filters), paged; and a search by exact actor id (GET /v1/actors/{id}).

import { api } from "../api.js";
import { h, replace, route, link, routeQuery, timeEl, stateText, scrollable, problemBox, loading } from "../dom.js";
import { parseDefinition, statePaths } from "../chart.js";

const PAGE = 50;

export async function actorsPage(ctx) {
  ctx.setTitle("Actors");
  const versionId = ctx.query.get("versionId") || "";
  const state = ctx.query.get("state") || "";
  ctx.main.append(h("h1", {}, "Actors"));

  // Search by id.
  const searchInput = h("input", { id: "actor-search", name: "actorId", type: "search", autocomplete: "off", spellcheck: "false", required: true });
  const searchResult = h("div", { id: "actor-search-result" });
  const searchForm = h(
    "form",
    { role: "search", class: "inline-form card", "aria-labelledby": "search-h", method: "post", action: "#" },
    h("h2", { id: "search-h", class: "small-h" }, "Find an actor"),
    h("div", { class: "field" }, h("label", { for: "actor-search" }, "Actor id (exact)"), searchInput),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Open actor")),
    searchResult,
  );
  searchForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = searchInput.value.trim();
    replace(searchResult);
    if (!id) return;
    try {
      await api("/v1/actors/" + encodeURIComponent(id));
      location.hash = route("actors", id);
    } catch (err) {
      replace(searchResult, err.status === 404 ? h("p", { role: "alert", class: "notice" }, `No actor has the id “${id}”.`) : problemBox(err));
    }
  });

  // Filters.
  const versionSelect = h(
    "select",
    { id: "filter-version", name: "versionId" },
    h("option", { value: "" }, "All versions"),
    versionId ? h("option", { value: versionId, selected: true }, versionId) : null, // before the list arrives
  );
  const stateInput = h("input", { id: "filter-state", name: "state", list: "state-options", autocomplete: "off", spellcheck: "false", value: state, "aria-describedby": "filter-state-help" });
  const stateOptions = h("datalist", { id: "state-options" });
  const filterForm = h(
    "form",
    { class: "inline-form card", "aria-labelledby": "filter-h", method: "post", action: "#" },
    h("h2", { id: "filter-h", class: "small-h" }, "Filter"),
    h("div", { class: "field" }, h("label", { for: "filter-version" }, "Version"), versionSelect),
    h("div", { class: "field" }, h("label", { for: "filter-state" }, "State"), stateInput, stateOptions,
      h("p", { id: "filter-state-help", class: "help" }, "A dotted path, e.g. review.pending; matches that state and below.")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply filters"),
      versionId || state ? h("a", { href: "#/actors", class: "button secondary" }, "Clear") : null),
  );
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = routeQuery("actors", { versionId: versionSelect.value, state: stateInput.value.trim() });
    if (location.hash === next) ctx.rerender?.();
    location.hash = next;
  });
  ctx.main.append(h("div", { class: "two-col" }, filterForm, searchForm));

  const resultArea = h("section", { "aria-labelledby": "results-h" });
  ctx.main.append(resultArea);
  resultArea.append(h("h2", { id: "results-h" }, describe(versionId, state)), loading("Loading actors…"));

  // Versions for the select, and state suggestions for the chosen version.
  api("/v1/machines")
    .then(({ items }) => {
      if (!ctx.alive()) return;
      for (const v of items) if (v.id !== versionId) versionSelect.append(h("option", { value: v.id }, v.id));
    })
    .catch(() => {});
  if (versionId) {
    api("/v1/machines/" + encodeURIComponent(versionId))
      .then((v) => {
        if (!ctx.alive()) return;
        for (const path of statePaths(parseDefinition(v.definition))) stateOptions.append(h("option", { value: path }));
      })
      .catch(() => {});
  }

  const tbody = h("tbody");
  const tableEl = h(
    "table",
    { id: "actors-table" },
    h("caption", { class: "visually-hidden" }, describe(versionId, state)),
    h("thead", {}, h("tr", {}, ["Actor", "Version", "State", "Status", "Events", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
    tbody,
  );
  const more = h("button", { type: "button", class: "secondary" }, "Load more actors");
  const summary = h("p", { class: "muted", role: "status" });
  let cursor = null;
  let shown = 0;
  const loadPage = async () => {
    more.disabled = true;
    const page = await api("/v1/actors", { query: { versionId, state, cursor, limit: PAGE } });
    if (!ctx.alive()) return;
    for (const a of page.items) {
      tbody.append(
        h("tr", { dataset: { actor: a.actorId } },
          h("th", { scope: "row" }, link(route("actors", a.actorId), a.actorId)),
          h("td", {}, link(route("versions", a.versionId), a.versionId)),
          h("td", { class: "state" }, stateText(a.stateValue)),
          h("td", {}, a.status),
          h("td", { class: "num" }, String(a.seq)),
          h("td", {}, timeEl(a.updatedAt))),
      );
    }
    shown += page.items.length;
    cursor = page.nextCursor;
    more.hidden = !cursor;
    more.disabled = false;
    summary.textContent = shown === 0 ? "No actor matches." : `${shown} shown${cursor ? "; more below" : ""}.`;
  };
  more.addEventListener("click", () => loadPage().catch((err) => resultArea.append(problemBox(err))));
  try {
    await loadPage();
  } catch (err) {
    replace(resultArea, h("h2", { id: "results-h" }, describe(versionId, state)), problemBox(err));
    return;
  }
  if (!ctx.alive()) return;
  replace(resultArea, h("h2", { id: "results-h" }, describe(versionId, state)), summary, scrollable(tableEl), more);
}

function describe(versionId, state) {
  if (versionId && state) return `Actors on ${versionId} in ${state}`;
  if (versionId) return `Actors on ${versionId}`;
  if (state) return `Actors in ${state}`;
  return "All actors";
}
