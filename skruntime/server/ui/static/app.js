// The dashboard's entry point: sign-in, the page shell and hash routing.
//
// Routes: #/ (version tree), #/versions/ID, #/actors?versionId=&state=,
// #/actors/ID, #/deployments, #/deployments/ID, #/deploy.

import { session, checkKey } from "./api.js";
import { h, replace, problemBox } from "./dom.js";
import { Live } from "./live.js";
import { versionsPage } from "./pages/versions.js";
import { versionPage } from "./pages/version.js";
import { actorsPage } from "./pages/actors.js";
import { actorPage } from "./pages/actor.js";
import { deploymentsPage, deploymentPage } from "./pages/deployments.js";
import { deployPage } from "./pages/deploy.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const sessionBar = document.getElementById("session");
const liveStatus = document.getElementById("live-status");
const whoami = document.getElementById("whoami");

let signedIn = false;
let cleanup = null;
let generation = 0;

const live = new Live(
  () => session.key,
  (state, text) => {
    liveStatus.dataset.state = state;
    liveStatus.textContent = text;
  },
  (reason) => signOut(reason),
);

session.onUnauthorized = (error) => {
  if (signedIn) signOut("The server refused the API key (" + ((error.problem && error.problem.detail) || "401") + "). Sign in again.");
};

// [pattern, page, nav section, page name (data-page on <main>)]
const ROUTES = [
  [/^$/, versionsPage, "versions", "versions"],
  [/^versions$/, versionsPage, "versions", "versions"],
  [/^versions\/([^/]+)$/, versionPage, "versions", "version"],
  [/^actors$/, actorsPage, "actors", "actors"],
  [/^actors\/([^/]+)$/, actorPage, "actors", "actor"],
  [/^deployments$/, deploymentsPage, "deployments", "deployments"],
  [/^deployments\/([^/]+)$/, deploymentPage, "deployments", "deployment"],
  [/^deploy$/, deployPage, "deploy", "deploy"],
];

function parseHash() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(2) : "";
  const [path, query = ""] = raw.split("?", 2);
  return { path: path.replace(/\/+$/, ""), query: new URLSearchParams(query) };
}

async function render() {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page anchor (skip link)
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error(err);
    }
    cleanup = null;
  }
  const mine = ++generation;
  if (!signedIn) {
    showSignIn();
    return;
  }
  const { path, query } = parseHash();
  let page = null;
  let params = [];
  let section = "";
  let pageName = "not-found";
  for (const [pattern, fn, name, pname] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      page = fn;
      params = m.slice(1).map(decodeURIComponent);
      section = name;
      pageName = pname;
      break;
    }
  }
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  replace(main);
  main.removeAttribute("data-ready");
  main.removeAttribute("data-live");
  main.dataset.page = pageName;
  if (!page) {
    document.title = "Not found · skruntime";
    replace(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the versions")));
    focusHeading();
    return;
  }
  const ctx = {
    main,
    params,
    query,
    live,
    session,
    alive: () => mine === generation,
    setTitle: (title) => {
      document.title = `${title} · skruntime`;
    },
    onCleanup: (fn) => {
      const previous = cleanup;
      cleanup = () => {
        if (previous) previous();
        fn();
      };
    },
    rerender: () => render(),
    ready: () => {
      if (mine === generation) main.dataset.ready = "true";
    },
  };
  try {
    await page(ctx);
  } catch (err) {
    if (!ctx.alive()) return;
    main.append(problemBox(err, "This page could not be loaded."));
    console.error(err);
  }
  if (ctx.alive()) {
    ctx.ready();
    focusHeading();
  }
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

function showSignIn(message) {
  document.title = "Sign in · skruntime";
  nav.hidden = true;
  sessionBar.hidden = true;
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "api-key-help",
  });
  const error = h("div", { id: "sign-in-error" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { id: "sign-in", class: "card narrow", "aria-labelledby": "sign-in-title", method: "post", action: "#" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", { id: "api-key-help", class: "help" },
      "Paste an API key (sk_…). The dashboard keeps it in this browser tab only (sessionStorage) and sends it to this server only. " +
      "A read-only key sees everything; deploying needs an admin key."),
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
    h("div", { class: "actions" }, button),
    error,
  );
  if (message) error.append(h("p", { class: "notice", role: "status" }, message));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    replace(error);
    if (!key) {
      error.append(problemBox(new Error("Enter an API key.")));
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = "Signing in…";
    try {
      await checkKey(key);
    } catch (err) {
      button.disabled = false;
      button.textContent = "Sign in";
      replace(error, problemBox(err, err.status === 401 ? "This API key was refused." : "Could not sign in."));
      input.select();
      input.focus();
      return;
    }
    input.value = "";
    signedIn = true;
    showShell();
    render();
  });
  replace(main, form);
  main.dataset.ready = "true";
  main.dataset.page = "sign-in";
}

function showShell() {
  nav.hidden = false;
  sessionBar.hidden = false;
  whoami.textContent = session.canDeploy ? "admin key" : "read-only key (cannot deploy)";
  whoami.dataset.canDeploy = String(session.canDeploy);
}

function signOut(message) {
  signedIn = false;
  session.key = null;
  session.canDeploy = false;
  live.close();
  live.subs.clear();
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error(err);
    }
    cleanup = null;
  }
  generation++;
  showSignIn(message);
  const input = document.getElementById("api-key");
  if (input) input.focus();
}

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out. The API key was removed from this tab."));
window.addEventListener("hashchange", () => render());

async function start() {
  const key = session.key;
  if (key) {
    try {
      await checkKey(key);
      signedIn = true;
      showShell();
    } catch (err) {
      showSignIn(err.status === 401 ? "The saved API key was refused; sign in again." : "Could not reach the server: " + err.message);
      return;
    }
  }
  render();
}

start();
