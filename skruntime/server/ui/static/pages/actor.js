// #/actors/ID : an actor's state, context, history timeline (paged) and
// migration decisions, updated live over the watch (resumed with fromSeq).

import { api } from "../api.js";
import { h, replace, route, link, timeEl, stateText, jsonText, facts, table, tableRow, scrollable, problemBox, loading } from "../dom.js";

const HISTORY_PAGE = 50;

const REASONS = {
  "history-match": "its history starts with the deployment's path",
  "no-history-path": "the deployment had no path: every actor was eligible",
  done: "finished actors stay",
  "history-too-short": "its whole history was a proper prefix of the path (it may match a later deploy)",
  "history-mismatch": "its history does not start with the path",
  "replay-diverged": "the new definition does not handle one of its events",
};

export async function actorPage(ctx) {
  const [actorId] = ctx.params;
  ctx.setTitle(`Actor ${actorId}`);
  ctx.main.append(h("h1", {}, "Actor ", h("span", { class: "id" }, actorId)));
  const status = loading();
  ctx.main.append(status);
  let actor = await api("/v1/actors/" + encodeURIComponent(actorId));
  if (!ctx.alive()) return;
  status.remove();

  // -- state ------------------------------------------------------------------------
  const factsBox = h("div", { id: "actor-facts" });
  const contextPre = h("pre", { id: "actor-context", tabindex: "0", "aria-label": "context JSON" });
  const showActor = (a) => {
    replace(
      factsBox,
      facts([
        ["Version", link(route("versions", a.versionId), a.versionId), "version"],
        ["State", h("span", { class: "state" }, stateText(a.stateValue)), "state"],
        ["Status", a.status, "status"],
        ["Events handled", String(a.seq), "seq"],
        ["Fingerprint", h("code", {}, a.fingerprint), "fingerprint"],
        ["Spawned", timeEl(a.createdAt)],
        ["Updated", timeEl(a.updatedAt), "updated"],
      ]),
    );
    contextPre.textContent = jsonText(a.context);
  };
  showActor(actor);

  let decisions = []; // migration decisions, shown in their table and in the timeline

  // -- history ------------------------------------------------------------------------
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-label": "History, oldest first" });
  timeline.append(h("li", { class: "timeline-item spawn" }, h("span", { class: "seq" }, "#0"), " spawned ", timeEl(actor.createdAt)));
  const moreEvents = h("button", { type: "button", class: "secondary" }, "Load more events");
  const historyStatus = h("p", { class: "muted", role: "status" });
  let after = 0; // last seq shown
  let complete = false;
  let loadingHistory = null;
  const loadEvents = () => {
    if (loadingHistory) return loadingHistory;
    loadingHistory = (async () => {
      moreEvents.disabled = true;
      try {
        const page = await api(`/v1/actors/${encodeURIComponent(actorId)}/events`, { query: { after, limit: HISTORY_PAGE } });
        if (!ctx.alive()) return;
        for (const ev of page.items) {
          if (ev.seq <= after) continue;
          timeline.append(eventItem(ev));
          after = ev.seq;
        }
        complete = page.nextAfter === null;
        placeDecisions();
        moreEvents.hidden = complete;
        historyStatus.textContent = `${after} ${after === 1 ? "event" : "events"} shown${complete ? "" : "; more below"}.`;
      } finally {
        moreEvents.disabled = false;
        loadingHistory = null;
      }
    })();
    return loadingHistory;
  };
  moreEvents.addEventListener("click", () => loadEvents().catch((err) => historySection.append(problemBox(err))));
  await loadEvents();
  if (!ctx.alive()) return;

  // -- decisions -----------------------------------------------------------------------
  const decisionsBox = h("div", { id: "decisions" });
  // Each decision also goes into the timeline, after the event it followed.
  function placeDecisions() {
    for (const d of decisions) {
      if ([...timeline.children].some((li) => li.dataset.decided === d.deploymentId)) continue;
      const anchor = d.seq === 0 || d.seq === undefined ? timeline.firstElementChild : timeline.querySelector(`li[data-seq="${Number(d.seq)}"]`);
      if (!anchor) continue; // that part of the history is not shown yet
      let at = anchor;
      while (at.nextElementSibling && at.nextElementSibling.classList.contains("decision")) at = at.nextElementSibling;
      at.after(decisionItem(d));
    }
  }
  const loadDecisions = async () => {
    const items = [];
    let from = 0;
    for (let i = 0; i < 20; i++) {
      const page = await api(`/v1/actors/${encodeURIComponent(actorId)}/decisions`, { query: { after: from, limit: 1000 } });
      items.push(...page.items);
      if (page.nextAfter === null || page.nextAfter === undefined) break;
      from = page.nextAfter;
    }
    if (!ctx.alive()) return;
    decisions = items;
    replace(decisionsBox, decisionsView(items));
    placeDecisions();
  };
  await loadDecisions();
  if (!ctx.alive()) return;

  const historySection = h(
    "section",
    { "aria-labelledby": "history-h", class: "card" },
    h("h2", { id: "history-h" }, "History"),
    historyStatus,
    timeline,
    moreEvents,
  );
  ctx.main.append(
    h("div", { class: "two-col" },
      h("section", { "aria-labelledby": "state-h", class: "card" }, h("h2", { id: "state-h" }, "State"), factsBox),
      h("section", { "aria-labelledby": "context-h", class: "card" }, h("h2", { id: "context-h" }, "Context"), contextPre)),
    historySection,
    h("section", { "aria-labelledby": "decisions-h" }, h("h2", { id: "decisions-h" }, "Migration decisions"), decisionsBox),
  );

  // -- live -----------------------------------------------------------------------------
  let refreshing = null;
  const refresh = async (migrated) => {
    try {
      const fresh = await api("/v1/actors/" + encodeURIComponent(actorId));
      if (!ctx.alive()) return;
      actor = fresh;
      showActor(actor);
      if (complete) await loadEvents();
      if (migrated) await loadDecisions();
    } catch {
      /* shown on the next change */
    }
  };
  const unwatch = ctx.live.watch(
    { actorId, fromSeq: actor.seq },
    {
      open: () => {
        ctx.main.dataset.live = "ready";
      },
      change: (frame) => {
        // Show the frame at once, then fetch the details (context, payloads).
        const stateFact = factsBox.querySelector('[data-fact="state"]');
        if (stateFact) replace(stateFact, h("span", { class: "state" }, stateText(frame.stateValue)));
        const seqFact = factsBox.querySelector('[data-fact="seq"]');
        if (seqFact) seqFact.textContent = String(frame.seq);
        const prior = refreshing || Promise.resolve();
        refreshing = prior.then(() => refresh(frame.event === null)).finally(() => {
          refreshing = null;
        });
      },
    },
  );
  ctx.onCleanup(unwatch);
}

function eventItem(ev) {
  const extra = [];
  if (ev.payload !== undefined) extra.push(h("div", {}, h("span", { class: "muted" }, "payload "), h("code", { class: "json" }, JSON.stringify(ev.payload))));
  if (ev.guards && Object.keys(ev.guards).length) {
    extra.push(h("div", {}, h("span", { class: "muted" }, "guards "), h("code", { class: "json" }, JSON.stringify(ev.guards))));
  }
  return h(
    "li",
    { class: "timeline-item", dataset: { seq: String(ev.seq) } },
    h("span", { class: "seq" }, `#${ev.seq}`),
    " ",
    h("code", { class: "event" }, ev.type),
    h("span", { class: "arrow", "aria-label": "leads to" }, " → "),
    h("span", { class: "state" }, stateText(ev.stateValue)),
    ev.status === "done" ? h("span", { class: "pill" }, "done") : null,
    " ",
    timeEl(ev.time),
    extra.length ? h("div", { class: "event-extra" }, extra) : null,
  );
}

function decisionItem(d) {
  const moved = d.decision === "migrate";
  return h(
    "li",
    { class: `timeline-item decision decision-${d.decision}`, dataset: { decided: d.deploymentId } },
    link(route("deployments", d.deploymentId), d.deploymentId),
    moved
      ? [" migrated it from ", d.fromVersion, " to ", d.toVersion, ", landing in ", h("span", { class: "state" }, stateText(d.landingState))]
      : [" kept it on ", d.fromVersion],
    " ",
    h("span", { class: `pill decision-${d.decision}` }, d.reason),
    " ",
    timeEl(d.time),
  );
}

function decisionsView(items) {
  if (items.length === 0) return h("p", { class: "muted" }, "No deployment has evaluated this actor.");
  const rows = items.map((d) =>
    tableRow(
      [
        link(route("deployments", d.deploymentId), d.deploymentId),
        timeEl(d.time),
        h("span", { class: "nowrap" }, link(route("versions", d.fromVersion), d.fromVersion), " → ",
          d.toVersion ? link(route("versions", d.toVersion), d.toVersion) : h("span", { class: "muted" }, "(stayed)")),
        h("span", { class: `pill decision-${d.decision}` }, d.decision),
        h("span", { class: "nowrap", title: REASONS[d.reason] || "" }, d.reason, d.divergedSeq !== undefined ? ` (event #${d.divergedSeq})` : ""),
        h("code", {}, d.fingerprint),
        d.prefixHash ? h("code", {}, d.prefixHash) : h("span", { class: "muted" }, "—"),
        String(d.k),
        d.fromState !== undefined ? stateText(d.fromState) : "—",
        d.landingState !== null && d.landingState !== undefined ? h("span", { class: "state" }, stateText(d.landingState)) : h("span", { class: "muted" }, "—"),
      ],
      { dataset: { deployment: d.deploymentId, decision: d.decision, reason: d.reason } },
    ),
  );
  return [
    scrollable(table(
      "Every deployment that evaluated this actor, oldest first",
      ["Deployment", "Time", "From → to version", "Decision", "Reason", "Fingerprint", "Prefix hash", "k", "From state", "Landing state"],
      rows,
      { id: "decisions-table", class: "wide" },
    )),
    h("ul", { class: "help" },
      [...new Set(items.map((d) => d.reason))].map((r) => h("li", {}, h("strong", {}, r), ": ", REASONS[r] || ""))),
  ];
}
