// #/ : the version tree (parents -> children), with historyPaths, deployments
// and actor counts.

import { api } from "../api.js";
import { h, replace, route, link, timeEl, pathChips, plural, loading } from "../dom.js";

export async function versionsPage(ctx) {
  ctx.setTitle("Versions");
  const status = loading("Loading versions…");
  ctx.main.append(
    h("div", { class: "page-head" },
      h("h1", {}, "Versions"),
      ctx.session.canDeploy ? h("a", { class: "button", href: "#/deploy" }, "Deploy a version") : null),
    status,
  );
  const { items } = await api("/v1/machines");
  if (!ctx.alive()) return;
  if (items.length === 0) {
    replace(status, "No version is deployed yet.");
    status.removeAttribute("role");
    return;
  }
  // Counts come from GET /v1/machines/{id}; a few at a time.
  const details = new Map();
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(6, queue.length) }, async () => {
      while (queue.length) {
        const v = queue.shift();
        try {
          details.set(v.id, await api("/v1/machines/" + encodeURIComponent(v.id)));
        } catch {
          details.set(v.id, null);
        }
      }
    }),
  );
  if (!ctx.alive()) return;

  const children = new Map();
  const ids = new Set(items.map((v) => v.id));
  const roots = [];
  for (const v of items) {
    if (v.parentId && ids.has(v.parentId)) {
      if (!children.has(v.parentId)) children.set(v.parentId, []);
      children.get(v.parentId).push(v);
    } else roots.push(v);
  }

  const total = [...details.values()].reduce((sum, d) => sum + ((d && d.actors && d.actors.total) || 0), 0);
  status.remove();
  ctx.main.append(
    h("p", { class: "lead" }, `${plural(items.length, "version")}, ${plural(total, "actor")}. `,
      "Each version lists its children: a child deployed with a history path took over the parent's actors whose history starts with that path."),
    h("ul", { class: "tree", "aria-label": "Version tree" }, roots.map((v) => treeItem(v, children, details))),
  );
}

function treeItem(v, children, details) {
  const d = details.get(v.id);
  const counts = d && d.actors;
  const kids = children.get(v.id) || [];
  return h(
    "li",
    { class: "tree-item", dataset: { version: v.id } },
    h("div", { class: "tree-node" },
      h("a", { class: "tree-name", href: route("versions", v.id) }, v.id),
      h("span", { class: "tree-meta" },
        v.parentId ? ["child of ", link(route("versions", v.parentId), v.parentId)] : "root version"),
      v.parentId ? h("span", { class: "tree-meta" }, "history path ", pathChips(v.historyPath)) : null,
      h("span", { class: "tree-counts", dataset: { counts: v.id } },
        counts
          ? [
              link(`#/actors?versionId=${encodeURIComponent(v.id)}`, plural(counts.total, "actor")),
              ` (${counts.active} active, ${counts.done} done)`,
            ]
          : "counts unavailable"),
      v.deploymentId ? h("span", { class: "tree-meta" }, "by ", link(route("deployments", v.deploymentId), v.deploymentId)) : null,
      h("span", { class: "tree-meta" }, "deployed ", timeEl(v.createdAt)),
    ),
    kids.length ? h("ul", { "aria-label": `children of ${v.id}` }, kids.map((k) => treeItem(k, children, details))) : null,
  );
}
