// #/versions/ID : one version: facts, live actor counts, the statechart with
// live counts per state, recent changes, the definition.

import { api } from "../api.js";
import { h, replace, route, link, routeQuery, timeEl, pathChips, plural, stateText, jsonText, facts, loading } from "../dom.js";
import { drawChart } from "../chart.js";

const REFRESH_EVERY = 300; // ms: at most this often after change frames
const RECONCILE_EVERY = 15000; // ms: a safety net while nothing changes
const ACTIVITY = 12;

export async function versionPage(ctx) {
  const [versionId] = ctx.params;
  ctx.setTitle(`Version ${versionId}`);
  ctx.main.append(h("h1", {}, "Version ", h("span", { class: "id" }, versionId)));
  const status = loading();
  ctx.main.append(status);
  const version = await api("/v1/machines/" + encodeURIComponent(versionId));
  let list = { items: [] };
  try {
    list = await api("/v1/machines");
  } catch {
    /* children are a nicety */
  }
  if (!ctx.alive()) return;
  status.remove();

  const kids = list.items.filter((v) => v.parentId === versionId);
  ctx.main.append(
    facts([
      ["Parent", version.parentId ? link(route("versions", version.parentId), version.parentId) : "none (a root version)"],
      ["History path", version.parentId ? pathChips(version.historyPath) : h("span", { class: "muted" }, "—")],
      ["Deployed", timeEl(version.createdAt)],
      ["Deployment", version.deploymentId ? link(route("deployments", version.deploymentId), version.deploymentId) : h("span", { class: "muted" }, "none")],
      ["Children", kids.length ? kids.map((k, i) => [i ? ", " : "", link(route("versions", k.id), k.id)]) : h("span", { class: "muted" }, "none")],
    ]),
  );

  const countsText = h("p", { class: "counts", id: "version-counts", "aria-live": "polite" });
  const countsSection = h(
    "section",
    { "aria-labelledby": "actors-h", class: "card" },
    h("h2", { id: "actors-h" }, "Actors"),
    countsText,
    h("p", {}, link(routeQuery("actors", { versionId }), "List the actors on this version")),
  );
  const chart = drawChart(version.definition, versionId);
  const chartSection = h(
    "section",
    { "aria-labelledby": "chart-h" },
    h("h2", { id: "chart-h" }, "Statechart"),
    h("p", { class: "help" }, "Badges count the actors in each state (a compound state counts those below it) and update live; follow one to list them."),
    chart.element,
  );
  const activity = h("ol", { class: "activity", "aria-label": "Recent changes", reversed: true });
  const activityEmpty = h("p", { class: "muted" }, "No change since this page was opened.");
  const activitySection = h(
    "section",
    { "aria-labelledby": "activity-h", class: "card" },
    h("h2", { id: "activity-h" }, "Live activity"),
    activityEmpty,
    activity,
  );
  const definition = h(
    "details",
    { class: "definition" },
    h("summary", {}, "Definition (JSON)"),
    h("pre", { tabindex: "0", "aria-label": "definition JSON" }, jsonText(version.definition)),
  );
  ctx.main.append(h("div", { class: "two-col" }, countsSection, activitySection), chartSection, definition);

  const show = (counts) => {
    replace(countsText,
      h("strong", { dataset: { count: "total" } }, plural(counts.total, "actor")),
      ": ",
      h("span", { dataset: { count: "active" } }, `${counts.active} active`),
      ", ",
      h("span", { dataset: { count: "done" } }, `${counts.done} done`));
    chart.update(counts.byState);
  };
  show(version.actors);

  // Live: each change frame schedules a refresh of the counts (the frames say
  // where an actor is, not where it was), at most every REFRESH_EVERY ms.
  let timer = null;
  let inflight = false;
  let again = false;
  const refresh = async () => {
    timer = null;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const fresh = await api("/v1/machines/" + encodeURIComponent(versionId));
      if (ctx.alive()) show(fresh.actors);
    } catch {
      /* the next frame or the reconcile timer tries again */
    } finally {
      inflight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(refresh, REFRESH_EVERY);
  };
  const reconcile = setInterval(refresh, RECONCILE_EVERY);
  const unwatch = ctx.live.watch(
    { versionId },
    {
      open: async () => {
        await refresh(); // whatever happened while we were not subscribed
        if (ctx.alive()) ctx.main.dataset.live = "ready";
      },
      change: (frame) => {
        activityEmpty.hidden = true;
        const what =
          frame.event === null
            ? frame.versionId === versionId
              ? ["migrated here, in ", h("span", { class: "state" }, stateText(frame.stateValue))]
              : ["migrated to ", link(route("versions", frame.versionId), frame.versionId)]
            : frame.event === "xstate.init"
              ? ["spawned in ", h("span", { class: "state" }, stateText(frame.stateValue))]
              : [h("code", {}, frame.event), " → ", h("span", { class: "state" }, stateText(frame.stateValue))];
        activity.prepend(
          h("li", {}, link(route("actors", frame.actorId), frame.actorId), " ", what, " ", h("span", { class: "muted" }, `#${frame.seq}`), " ", timeEl(frame.at)),
        );
        while (activity.children.length > ACTIVITY) activity.lastElementChild.remove();
        schedule();
      },
    },
  );
  ctx.onCleanup(() => {
    unwatch();
    clearTimeout(timer);
    clearInterval(reconcile);
  });
}
