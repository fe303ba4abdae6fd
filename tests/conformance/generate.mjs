// Conformance fixture generator: runs skruntime machine definitions (pure
// JSON, XState v5 dialect) through the real `xstate` package and records what
// it does, step by step, so the Python engine can be checked against it.
//
//   node generate.mjs [seed] [randomCaseCount]
//
// Writes fixtures/random.jsonl.gz (random machines and event sequences) and
// fixtures/handwritten.jsonl.gz (cases/*.json). The output is a pure function
// of the seed, the case files and the pinned xstate version.

import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createMachine, createActor, and, or, not, stateIn } from 'xstate';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_SEED = 0x5eed2024;
const DEFAULT_RANDOM_CASES = 3500;
// Microsteps per macrostep before XState reports an infinite loop.
const MAX_ITERATIONS = 1000;
const INFINITE_LOOP = 'infinite-loop';

// ---------------------------------------------------------------------------
// Driving XState
// ---------------------------------------------------------------------------

const COMBINATORS = new Set(['and', 'or', 'not', 'stateIn']);

/** Converts one skruntime guard to XState's form, collecting guard names. */
function convertGuard(guard, names) {
  if (typeof guard === 'string') {
    names.add(guard);
    return guard;
  }
  switch (guard.type) {
    case 'and':
      return and(guard.guards.map((g) => convertGuard(g, names)));
    case 'or':
      return or(guard.guards.map((g) => convertGuard(g, names)));
    case 'not':
      if (guard.guards.length !== 1) throw new Error('not takes exactly one guard');
      return not(convertGuard(guard.guards[0], names));
    case 'stateIn':
      return stateIn(guard.stateValue);
    default:
      names.add(guard.type);
      return 'params' in guard ? { type: guard.type, params: guard.params } : { type: guard.type };
  }
}

function convertTransitions(config, names) {
  const one = (t) => {
    if (typeof t === 'string' || t === null || typeof t !== 'object') return t;
    if (t.guard === undefined) return { ...t };
    return { ...t, guard: convertGuard(t.guard, names) };
  };
  return Array.isArray(config) ? config.map(one) : one(config);
}

/** Deep-converts a node config (returns a new object; the input is kept). */
function convertNode(node, names) {
  const out = { ...node };
  if (node.on) {
    out.on = {};
    for (const [descriptor, t] of Object.entries(node.on)) out.on[descriptor] = convertTransitions(t, names);
  }
  if (node.after) {
    out.after = {};
    for (const [delay, t] of Object.entries(node.after)) out.after[delay] = convertTransitions(t, names);
  }
  if (node.always !== undefined) out.always = convertTransitions(node.always, names);
  if (node.onDone !== undefined) out.onDone = convertTransitions(node.onDone, names);
  if (node.states) {
    out.states = {};
    for (const [key, child] of Object.entries(node.states)) out.states[key] = convertNode(child, names);
  }
  return out;
}

function answersOf(event) {
  const answers = event.type === 'xstate.init' ? event.input?.guards : event.guards;
  return answers ?? {};
}

/** Builds the XState machine for a skruntime definition. */
export function buildMachine(definition) {
  const names = new Set();
  const config = convertNode(structuredClone(definition), names);
  config.options = { maxIterations: MAX_ITERATIONS };
  const guards = {};
  for (const name of names) {
    guards[name] = ({ event }) => {
      const answers = answersOf(event);
      return Object.hasOwn(answers, name) && answers[name] === true;
    };
  }
  return createMachine(config).provide({ guards });
}

function isInfiniteLoop(err) {
  return err instanceof Error && err.message.startsWith('Infinite loop detected');
}

class NonConformingError extends Error {}

/**
 * One actor under observation. Records the initial macrostep on creation;
 * `send` and `fireTimer` record one macrostep each.
 */
export class Session {
  constructor(definition, spawnGuards) {
    this.pending = []; // [{handle, fn, ms, type}] in scheduling order
    this.raised = []; // delayed raises seen in inspection, waiting for their setTimeout
    this.actions = [];
    this.handled = false;
    this.transitionsTaken = []; // [{eventType, t: XState transition}], for the coverage summary
    let nextHandle = 0;
    const clock = {
      setTimeout: (fn, ms) => {
        const raised = this.raised.shift();
        if (!raised || raised.delay !== ms) {
          throw new NonConformingError(`unexpected setTimeout(${ms}) without a matching delayed raise`);
        }
        nextHandle += 1;
        this.pending.push({ handle: nextHandle, fn, ms, type: raised.type });
        return nextHandle;
      },
      clearTimeout: (handle) => {
        const i = this.pending.findIndex((p) => p.handle === handle);
        if (i >= 0) this.pending.splice(i, 1);
      },
    };
    const inspect = (ev) => {
      if (ev.type === '@xstate.action') {
        const { type, params } = ev.action;
        if (type.startsWith('xstate.')) {
          if (type === 'xstate.raise' && typeof params?.delay === 'number') {
            this.raised.push({ type: params.event.type, delay: params.delay });
          }
          return;
        }
        this.actions.push(params === undefined ? { type } : { type, params });
      } else if (ev.type === '@xstate.microstep') {
        if (ev._transitions.length) {
          this.handled = true;
          for (const t of ev._transitions) this.transitionsTaken.push({ eventType: ev.event.type, t });
        }
      }
    };
    const machine = buildMachine(definition); // may throw: invalid definition
    const input = spawnGuards === undefined ? {} : { guards: spawnGuards };
    this.actor = createActor(machine, { input, clock, inspect });
    this.actor.subscribe({ error: () => {} }); // errors are read from the snapshot
    this.actor.start();
    this.initial = this.record();
  }

  get active() {
    return this.actor.getSnapshot().status === 'active';
  }

  /** The outcome of the macrostep just run; rethrows any XState error but the infinite loop. */
  record() {
    const snap = this.actor.getSnapshot();
    const actions = this.actions;
    const handled = this.handled;
    this.actions = [];
    this.handled = false;
    if (snap.status === 'error') {
      if (isInfiniteLoop(snap.error)) return { error: INFINITE_LOOP };
      const err = snap.error instanceof Error ? snap.error : new Error(String(snap.error));
      throw err;
    }
    if (this.raised.length) throw new NonConformingError('delayed raise never scheduled');
    const out = { handled, value: snap.value, status: snap.status };
    if (snap.output !== undefined) out.output = snap.output;
    out.actions = actions;
    out.timers = this.pending.map((p) => [p.type, p.ms]);
    return out;
  }

  send(type, guards) {
    const event = guards === undefined ? { type } : { type, guards };
    this.actor.send(event);
    return { event, ...this.record() };
  }

  /** Fires the pending timer for `type`, or the oldest one. */
  fireTimer(type) {
    const i = type === undefined ? 0 : this.pending.findIndex((p) => p.type === type);
    if (i < 0 || !this.pending.length) throw new Error(`no pending timer ${type ?? ''}`);
    const [timer] = this.pending.splice(i, 1);
    timer.fn();
    return { event: { type: timer.type }, timer: true, ...this.record() };
  }

  stop() {
    if (this.active) this.actor.stop();
  }
}

function initialRecord(session) {
  const { handled, ...rest } = session.initial;
  return rest;
}

function fixtureLine(name, definition, spawnGuards, session, steps) {
  const line = { name, machine: definition };
  if (spawnGuards !== undefined) line.spawnGuards = spawnGuards;
  line.initial = initialRecord(session);
  line.steps = steps.map(orderStep);
  return line;
}

/** Fixed key order for a step record. */
function orderStep(step) {
  const out = { event: step.event };
  if (step.timer) out.timer = true;
  if (step.error !== undefined) {
    out.error = step.error;
    return out;
  }
  out.handled = step.handled;
  out.value = step.value;
  out.status = step.status;
  if (step.output !== undefined) out.output = step.output;
  out.actions = step.actions;
  out.timers = step.timers;
  return out;
}

// ---------------------------------------------------------------------------
// Hand-written cases
// ---------------------------------------------------------------------------

export function runHandwritten(file, caseDef) {
  const { name, machine, spawnGuards, steps } = caseDef;
  if (typeof name !== 'string' || !machine || !Array.isArray(steps)) {
    throw new Error(`${file}: needs name, machine and steps`);
  }
  validateDefinition(machine);
  const session = new Session(machine, spawnGuards);
  const recorded = [];
  let remaining = steps.length;
  if (session.initial.error === undefined) {
    for (const step of steps) {
      if (!session.active) break;
      remaining -= 1;
      let rec;
      if ('fireTimer' in step) {
        rec = session.fireTimer(step.fireTimer ?? undefined);
      } else {
        if (typeof step.type !== 'string') throw new Error(`${file}: step without type`);
        rec = session.send(step.type, step.guards);
      }
      recorded.push(rec);
      if (rec.error !== undefined) break;
    }
  }
  session.stop();
  if (remaining > 0) {
    console.warn(`  note: ${file}: ${remaining} step(s) not run (actor ${session.initial.error ?? session.actor.getSnapshot().status})`);
  }
  return fixtureLine(name, machine, spawnGuards, session, recorded);
}

// ---------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------

function makeRng(seed) {
  let s = seed >>> 0;
  const float = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(float() * (hi - lo + 1));
  const pick = (arr) => arr[Math.floor(float() * arr.length)];
  const chance = (p) => float() < p;
  const shuffle = (arr) => {
    const a = arr.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(float() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  const sample = (arr, k) => shuffle(arr).slice(0, k);
  /** pick from [[weight, value], ...] */
  const weighted = (options) => {
    const total = options.reduce((acc, [w]) => acc + w, 0);
    let r = float() * total;
    for (const [w, v] of options) {
      if ((r -= w) < 0) return v;
    }
    return options[options.length - 1][1];
  };
  return { float, int, pick, chance, shuffle, sample, weighted };
}

/** Mixes the run seed with an attempt number into an independent seed. */
export function mixSeed(seed, n) {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------
// Random machines
// ---------------------------------------------------------------------------

const ROOT_IDS = ['m', 'loan', 'order_flow', 'claim', 'app', 'machine'];
const KEYS = [
  'idle', 'active', 'review', 'pending', 'done', 'failed', 'a', 'b', 'c', 'd', 'x', 'y', 'z',
  'open', 'closed', 'on', 'off', 'running', 'paused', 'left', 'right', 'ok', 'error_state',
  'step1', 'step2', 'step3', 'waiting', 'ready', 'S', 'T', 'U', '_hidden', 'Busy', 'cart',
];
const HISTORY_KEYS = ['hist', 'H', 'history', 'back', 'resume'];
const GUARD_NAMES = ['isEligible', 'hasDocs', 'isVip', 'ok', 'flagA', 'flagB', 'canRetry', 'paid', 'g1', 'g2', 'under_limit'];
const ACTION_NAMES = ['notify', 'log', 'audit', 'sendEmail', 'track', 'a1', 'a2', 'a3', 'chargeFee', 'cleanup', 'startTimer', 'stopTimer'];
const PLAIN_EVENTS = ['NEXT', 'BACK', 'SUBMIT', 'CANCEL', 'RESET', 'TOGGLE', 'PAY', 'ping', 'GO', 'RETRY'];
const DOTTED_EVENTS = ['order.created', 'order.paid', 'order.shipped', 'user.login', 'user.logout', 'a.b.c', 'a.b.d', 'doc.upload.ok'];
const UNKNOWN_EVENTS = ['UNKNOWN', 'nope', 'NEXT_', 'next', 'order.refunded', 'orderx', 'user', 'order', 'a.b', 'a', 'doc', 'x.y.z', 'ÉVÉNEMENT ✓', 'with space', 'done'];
const DELAYS = ['0', '10', '50', '100', '250', '1000', '3000'];
const MAX_STATES = 20; // states per random machine, root and history states not counted

class GNode {
  constructor(key, parent, kind) {
    this.key = key;
    this.parent = parent;
    this.kind = kind; // atomic | compound | parallel | final | history
    this.children = [];
    this.path = parent ? [...parent.path, key] : [];
    this.customId = null;
    this.initial = null; // child GNode for compound
    this.history = null; // 'shallow' | 'deep'
    this.historyTarget = null; // GNode
    this.config = {};
  }
  get depth() {
    return this.path.length;
  }
  isContainer() {
    return this.kind === 'compound' || this.kind === 'parallel';
  }
  realChildren() {
    return this.children.filter((c) => c.kind !== 'history');
  }
}

/** A transition config whose list items are objects (`"x"` -> `{target: "x"}`). */
function stringsToObjects(config) {
  return Array.isArray(config) ? config.map((t) => (typeof t === 'string' ? { target: t } : t)) : config;
}

function isAncestorOrSelf(a, b) {
  for (let n = b; n; n = n.parent) if (n === a) return true;
  return false;
}

function leastCommonAncestor(a, b) {
  for (let n = a.parent; n; n = n.parent) if (isAncestorOrSelf(n, b)) return n;
  return null;
}

function allNodes(root) {
  const out = [];
  const walk = (n) => {
    out.push(n);
    n.children.forEach(walk);
  };
  walk(root);
  return out;
}

class RandomMachine {
  constructor(rng) {
    this.rng = rng;
    this.rootId = rng.pick(ROOT_IDS);
    this.idCounter = 0;
    this.guardNames = rng.sample(GUARD_NAMES, rng.int(2, 6));
    this.actionNames = rng.sample(ACTION_NAMES, rng.int(3, 7));
    const plain = rng.sample(PLAIN_EVENTS, rng.int(2, 5));
    const dotted = rng.sample(DOTTED_EVENTS, rng.int(1, 3));
    this.events = [...plain, ...dotted];
    const prefixes = new Set();
    for (const e of dotted) {
      const parts = e.split('.');
      for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join('.') + '.*');
    }
    this.partials = [...prefixes];
    this.usedUnguardedTargetedAlways = false;
  }

  // --- structure --------------------------------------------------------

  freshKey(parent) {
    const taken = new Set(parent.children.map((c) => c.key));
    for (let i = 0; i < 20; i++) {
      const k = this.rng.pick(KEYS);
      if (!taken.has(k)) return k;
    }
    let i = 1;
    while (taken.has(`s${i}`)) i++;
    return `s${i}`;
  }

  addChild(parent, kind) {
    const node = new GNode(this.freshKey(parent), parent, kind);
    parent.children.push(node);
    if (kind !== 'history') this.count++;
    return node;
  }

  makeCompound(node, nChildren) {
    node.kind = 'compound';
    for (let i = 0; i < nChildren; i++) this.addChild(node, 'atomic');
  }

  /** Turns `node` into a parallel state, adding at most `room` (>= 2) states. */
  makeParallel(node, room) {
    const { rng } = this;
    node.kind = 'parallel';
    const regions = room >= 6 ? rng.int(2, 3) : 2;
    let left = room;
    for (let i = 0; i < regions; i++) {
      const r = this.addChild(node, 'atomic');
      left -= 1;
      const spare = left - (regions - i - 1); // the other regions need one state each
      if (spare >= 1 && rng.chance(0.85)) {
        const k = Math.min(spare, rng.int(1, 2));
        this.makeCompound(r, k);
        left -= k;
      }
    }
  }

  genStructure() {
    const { rng } = this;
    this.count = 0;
    const target = rng.int(2, MAX_STATES);
    const root = new GNode(null, null, 'compound');
    this.root = root;
    if (target >= 6 && rng.chance(0.12)) this.makeParallel(root, target);
    else this.makeCompound(root, Math.min(target, rng.int(2, 3)));
    let guard = 0;
    while (this.count < target && guard++ < 200) {
      const nodes = allNodes(root);
      const room = target - this.count;
      if (rng.chance(0.5)) {
        // widen: another child of a compound, or another region of a parallel
        const containers = nodes.filter((n) => n.isContainer() && n.depth < 4 && (n.kind === 'compound' || n.children.length < 3));
        if (!containers.length) continue;
        const c = rng.pick(containers);
        if (c.kind === 'compound') this.addChild(c, 'atomic');
        else if (room >= 2 && c.depth <= 2) this.makeCompound(this.addChild(c, 'atomic'), 1);
        else this.addChild(c, 'atomic');
      } else {
        // deepen: turn a leaf into a compound or parallel state
        const leaves = nodes.filter((n) => n.kind === 'atomic' && n.depth >= 1 && n.depth < 4);
        if (!leaves.length) continue;
        const leaf = rng.pick(leaves);
        if (room >= 4 && leaf.depth <= 2 && rng.chance(0.3)) this.makeParallel(leaf, room);
        else this.makeCompound(leaf, Math.max(1, Math.min(room, rng.int(1, 3))));
      }
    }
    this.finishStructure();
  }

  finishStructure() {
    const { rng } = this;
    const nodes = allNodes(this.root);
    // parallel states whose regions should all be able to complete
    const completing = new Set(nodes.filter((n) => n.kind === 'parallel' && rng.chance(0.4)));
    for (const n of nodes) {
      if (n.kind !== 'compound') continue;
      const inCompleting = n.parent && completing.has(n.parent);
      const candidates = n.realChildren();
      // initial: usually a non-final child; sometimes the first in document order
      n.initial = rng.chance(0.5) ? candidates[0] : rng.pick(candidates);
      const pFinal = inCompleting ? 1 : n === this.root ? 0.45 : 0.4;
      if (rng.chance(pFinal)) {
        const leaves = candidates.filter((c) => c.kind === 'atomic' && c !== n.initial);
        const canAdd = this.count < MAX_STATES;
        if (leaves.length && (!canAdd || n.realChildren().length > 2 || rng.chance(0.5))) {
          rng.pick(leaves).kind = 'final';
        } else if (canAdd) {
          this.addChild(n, 'final');
        }
        if (rng.chance(0.15)) {
          const more = n.realChildren().filter((c) => c.kind === 'atomic' && c !== n.initial);
          if (more.length) rng.pick(more).kind = 'final';
        }
      }
      // rarely, a compound state that is complete on entry
      if (n !== this.root && rng.chance(0.02)) {
        const leaves = candidates.filter((c) => c.kind === 'atomic');
        if (leaves.includes(n.initial)) n.initial.kind = 'final';
      }
    }
    // history nodes in non-root containers
    for (const n of nodes) {
      if (!n.isContainer() || n === this.root || !rng.chance(0.35)) continue;
      const free = HISTORY_KEYS.filter((k) => !n.children.some((c) => c.key === k));
      if (!free.length) continue;
      const h = new GNode(rng.pick(free), n, 'history');
      n.children.splice(rng.int(0, n.children.length), 0, h);
      h.history = rng.chance(0.5) ? 'deep' : 'shallow';
      if (rng.chance(0.35)) {
        const descendants = allNodes(n).filter((d) => d !== n && d.kind !== 'history');
        h.historyTarget = rng.pick(descendants);
      }
    }
    // custom ids
    for (const n of allNodes(this.root)) {
      if (n === this.root || n.kind === 'history') continue;
      if (rng.chance(0.25)) n.customId = `${n.key}_${++this.idCounter}`;
    }
    // a region's node order matters (document order), it is the children order
    this.nodes = allNodes(this.root);
  }

  // --- pieces -----------------------------------------------------------

  params() {
    const { rng } = this;
    return rng.weighted([
      [3, () => ({ n: rng.int(0, 99) })],
      [2, () => ({ msg: rng.pick(['hello', 'fee due', 'ünïcode', '']) })],
      [2, () => ({ level: rng.pick(['info', 'warn']), count: rng.int(1, 5), flag: rng.chance(0.5) })],
      [1, () => ({ nested: { list: [1, 'two', null, { three: 3 }] } })],
      [1, () => ({})],
    ])();
  }

  action() {
    const { rng } = this;
    const name = rng.pick(this.actionNames);
    return rng.chance(0.35) ? { type: name, params: this.params() } : name;
  }

  actionList() {
    const n = this.rng.weighted([[5, 1], [3, 2], [1, 3]]);
    const list = Array.from({ length: n }, () => this.action());
    return n === 1 && this.rng.chance(0.6) ? list[0] : list;
  }

  stateValueFor(node) {
    // node's path as a state value object: {a: {b: "c"}}
    const path = node.path;
    let v = path[path.length - 1];
    for (let i = path.length - 2; i >= 0; i--) v = { [path[i]]: v };
    return v;
  }

  guard(depth = 0) {
    const { rng } = this;
    const kind = rng.weighted([
      [depth < 2 ? 1.2 : 0, 'and'],
      [depth < 2 ? 1.2 : 0, 'or'],
      [depth < 2 ? 1.2 : 0, 'not'],
      [0.9, 'stateIn'],
      [2.5, 'params'],
      [7, 'name'],
    ]);
    switch (kind) {
      case 'and':
      case 'or': {
        const n = rng.weighted([[1, 0], [3, 1], [6, 2], [2, 3]]);
        return { type: kind, guards: Array.from({ length: n }, () => this.guard(depth + 1)) };
      }
      case 'not':
        return { type: 'not', guards: [this.guard(depth + 1)] };
      case 'stateIn': {
        const candidates = this.nodes.filter((n) => n !== this.root && n.kind !== 'history');
        const target = rng.pick(candidates);
        const forms = [() => this.stateValueFor(target), () => target.path.join('.')];
        if (target.customId) forms.push(() => `#${target.customId}`);
        return { type: 'stateIn', stateValue: rng.pick(forms)() };
      }
      case 'params':
        return { type: rng.pick(this.guardNames), params: this.params() };
      default:
        return rng.pick(this.guardNames);
    }
  }

  /** Ways to write `target` as a transition target from `source`. */
  targetExprs(source, target) {
    const out = [];
    if (target === this.root) return out;
    const relative = [];
    if (source.parent && target !== source.parent && isAncestorOrSelf(source.parent, target) && (target === source || !isAncestorOrSelf(source, target))) {
      relative.push(target.path.slice(source.parent.path.length).join('.'));
    }
    if (target.parent === source) relative.push(`.${target.key}`);
    const byId = [];
    if (target.customId) byId.push(`#${target.customId}`);
    if (target.parent?.customId) byId.push(`#${target.parent.customId}.${target.key}`);
    if (!target.customId && this.rng.chance(0.25)) byId.push(`#${this.rootId}.${target.path.join('.')}`);
    if (relative.length && (this.rng.chance(0.8) || !byId.length)) return relative;
    return byId.length ? byId : relative;
  }

  targetFor(source, pool) {
    const { rng } = this;
    for (const t of rng.shuffle(pool).slice(0, 8)) {
      const exprs = this.targetExprs(source, t);
      if (exprs.length) return rng.pick(exprs);
    }
    return null;
  }

  multiTarget(source) {
    const { rng } = this;
    const parallels = rng.shuffle(this.nodes.filter((n) => n.kind === 'parallel' && n.realChildren().length >= 2));
    for (const p of parallels) {
      const regions = rng.sample(p.realChildren(), rng.int(2, p.realChildren().length));
      const exprs = [];
      for (const region of regions) {
        const inRegion = allNodes(region).filter((n) => n.kind !== 'history');
        const t = this.targetFor(source, inRegion);
        if (t === null) break;
        exprs.push(t);
      }
      if (exprs.length === regions.length) return exprs;
    }
    return null;
  }

  /** One transition object (or string shorthand) from `source`. */
  transition(source, { eventless = false, forceGuard = false } = {}) {
    const { rng } = this;
    const t = {};
    // Eventless transitions leave their source (or target nothing): an
    // eventless transition whose source stays active re-fires at once.
    const kind = eventless
      ? rng.weighted([[45, 'sibling'], [12, 'far'], [40, 'targetless']])
      : rng.weighted([
          [32, 'sibling'],
          [source.isContainer() ? 12 : 0, 'child'],
          [12, 'far'],
          [7, 'multi'],
          [7, 'history'],
          [5, 'self'],
          [14, 'targetless'],
          [1, 'empty'],
        ]);
    let target = null;
    // ...and never to another region of a parallel ancestor, which would
    // re-enter the source's region by default.
    const outside = (n) => !isAncestorOrSelf(n, source) && !isAncestorOrSelf(source, n) && leastCommonAncestor(n, source).kind !== 'parallel';
    const real = this.nodes.filter((n) => n !== this.root && n.kind !== 'history' && (!eventless || outside(n)));
    switch (kind) {
      case 'sibling':
        target = source.parent ? this.targetFor(source, allNodes(source.parent).filter((n) => n !== source.parent && n.kind !== 'history' && (eventless ? outside(n) : n === source || !isAncestorOrSelf(source, n)))) : null;
        break;
      case 'child':
        target = this.targetFor(source, source.realChildren());
        break;
      case 'far':
        target = this.targetFor(source, real);
        break;
      case 'multi':
        target = this.multiTarget(source);
        break;
      case 'history':
        target = this.targetFor(source, this.nodes.filter((n) => n.kind === 'history'));
        break;
      case 'self':
        target = source.parent ? source.key : null;
        break;
      default:
        break;
    }
    if (target === null && kind !== 'targetless' && kind !== 'empty') {
      target = real.length ? this.targetFor(source, real) : null;
    }
    if (target !== null) {
      t.target = !Array.isArray(target) && rng.chance(0.05) ? [target] : target;
      if (rng.chance(kind === 'self' || kind === 'child' ? 0.45 : 0.1)) t.reenter = true;
      else if (rng.chance(0.03)) t.reenter = false;
    }
    if (forceGuard || rng.chance(eventless ? 0.85 : 0.4)) t.guard = this.guard();
    if (kind === 'targetless' || target === null ? kind !== 'empty' : rng.chance(0.4)) t.actions = this.actionList();
    if (rng.chance(0.03)) t.description = 'generated transition';
    if (rng.chance(0.02)) t.meta = { note: 'meta on transition' };
    const keys = Object.keys(t);
    if (keys.length === 1 && keys[0] === 'target' && typeof t.target === 'string' && rng.chance(0.6)) return t.target;
    return t;
  }

  /** A transition config: one transition or a candidate list. */
  transitionConfig(source, opts = {}) {
    const { rng } = this;
    if (rng.chance(0.3)) {
      const n = rng.int(2, 3);
      const list = [];
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        list.push(this.transition(source, { ...opts, forceGuard: !last || rng.chance(0.3) }));
      }
      return list;
    }
    return this.transition(source, opts);
  }

  hasUnguardedTarget(config) {
    const list = Array.isArray(config) ? config : [config];
    return list.some((t) => typeof t === 'string' || (t.guard === undefined && t.target !== undefined));
  }

  alwaysConfig(source) {
    const { rng } = this;
    const config = this.transitionConfig(source, { eventless: true });
    const list = Array.isArray(config) ? config : [config];
    const unguardedIdx = list.findIndex((t) => typeof t === 'string' || t.guard === undefined);
    if (unguardedIdx >= 0) {
      const t = typeof list[unguardedIdx] === 'string' ? { target: list[unguardedIdx] } : list[unguardedIdx];
      if (t.target !== undefined) {
        // At most one unguarded eventless transition with a target per machine,
        // and never into or out to an ancestor of its source: no trivial cycle.
        const targets = Array.isArray(t.target) ? t.target : [t.target];
        const ok = !this.usedUnguardedTargetedAlways && source !== this.root &&
          targets.every((e) => !e.startsWith('#') && !e.startsWith('.')) && rng.chance(0.3);
        if (ok) this.usedUnguardedTargetedAlways = true;
        else t.guard = this.guard();
        list[unguardedIdx] = t;
      }
    }
    return Array.isArray(config) ? list : list[0];
  }

  eventDescriptors() {
    const { rng } = this;
    const n = rng.weighted([[3, 0], [5, 1], [4, 2], [2, 3], [1, 4]]);
    const out = new Set();
    for (let i = 0; i < n; i++) {
      const d = rng.weighted([
        [20, () => rng.pick(this.events)],
        [this.partials.length ? 2.5 : 0, () => rng.pick(this.partials)],
        [1.2, () => '*'],
      ])();
      out.add(d);
    }
    return [...out];
  }

  // --- assembly ---------------------------------------------------------

  genTransitions() {
    const { rng } = this;
    for (const n of this.nodes) {
      if (n.kind === 'history') continue;
      const c = n.config;
      if (rng.chance(0.4)) c.entry = this.actionList();
      if (rng.chance(0.35)) c.exit = this.actionList();
      if (n.kind === 'final') continue;
      const on = {};
      for (const d of this.eventDescriptors()) on[d] = this.transitionConfig(n);
      if (Object.keys(on).length) c.on = on;
      if (rng.chance(n === this.root ? 0.05 : 0.12)) c.always = this.alwaysConfig(n);
      if (rng.chance(0.12)) {
        const after = {};
        const delays = rng.sample(DELAYS, rng.weighted([[4, 1], [1, 2]]));
        // skruntime rejects bare strings inside an `after` list (XState
        // spreads them into targetless transitions), so list items are objects.
        for (const d of delays) after[d] = stringsToObjects(this.transitionConfig(n));
        c.after = withKeyOrder(after, delays); // written in random order
      }
      if (n !== this.root && n.isContainer() && this.canComplete(n) && rng.chance(0.65)) {
        c.onDone = this.transitionConfig(n);
      }
    }
  }

  canComplete(n) {
    if (n.kind === 'final') return true;
    if (n.kind === 'compound') return n.realChildren().some((c) => c.kind === 'final');
    if (n.kind === 'parallel') return n.realChildren().every((r) => this.canComplete(r));
    return false;
  }

  serialize(n) {
    const { rng } = this;
    if (n.kind === 'history') {
      const h = { type: 'history', history: n.history };
      if (n.historyTarget) h.target = n.historyTarget.path.slice(n.parent.path.length).join('.');
      return h;
    }
    const out = {};
    if (n === this.root) out.id = this.rootId;
    else if (n.customId) out.id = n.customId;
    if (n.kind === 'parallel' || n.kind === 'final') out.type = n.kind;
    else if (rng.chance(0.08)) out.type = n.kind;
    if (n.kind === 'compound') out.initial = n.initial.key;
    const c = n.config;
    for (const k of ['entry', 'exit', 'on', 'always', 'after', 'onDone']) if (c[k] !== undefined) out[k] = c[k];
    if (n.children.length) {
      out.states = {};
      for (const child of n.children) out.states[child.key] = this.serialize(child);
    }
    if (n.kind === 'final' && rng.chance(0.3)) out.output = rng.pick([{ code: rng.int(1, 9) }, 'finished', 7, null, [1, 2]]);
    if (rng.chance(0.06)) out.tags = rng.sample(['busy', 'visible', 'billing'], rng.int(1, 2));
    if (rng.chance(0.04)) out.meta = { label: `node ${n.key ?? 'root'}` };
    if (rng.chance(0.04)) out.description = 'a generated state';
    return out;
  }

  build() {
    this.genStructure();
    this.genTransitions();
    const def = this.serialize(this.root);
    const { rng } = this;
    if (this.root.realChildren().some((c) => c.kind === 'final') && rng.chance(0.6)) {
      def.output = rng.pick([{ result: 'ok', n: rng.int(0, 9) }, 'done', 0, false, null, [], { nested: { deep: true } }]);
    }
    if (rng.chance(0.2)) def.context = { count: rng.int(0, 5), label: 'ctx' };
    return def;
  }

  // --- event sequences --------------------------------------------------

  vocabulary() {
    const out = new Set();
    for (const n of this.nodes) for (const d of Object.keys(n.config.on ?? {})) if (d !== '*' && !d.endsWith('.*')) out.add(d);
    return out.size ? [...out] : this.events.slice();
  }

  unknownEvent() {
    const { rng } = this;
    return rng.weighted([
      [6, () => rng.pick(UNKNOWN_EVENTS)],
      [this.partials.length ? 4 : 0, () => {
        const p = rng.pick(this.partials).slice(0, -2);
        return rng.pick([p, `${p}.zz`, `${p}.q.r`, `${p}.`]);
      }],
      [2, () => {
        const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:';
        const len = rng.chance(0.2) ? 128 : rng.int(1, 24);
        let s = '';
        while (s.length < len) s += chars[rng.int(0, chars.length - 1)];
        return s.startsWith('xstate.') ? `u${s.slice(1)}` : s;
      }],
    ])();
  }

  guardAnswers() {
    const { rng } = this;
    if (rng.chance(0.25)) return undefined;
    const out = {};
    for (const name of rng.sample(this.guardNames, rng.int(1, this.guardNames.length))) out[name] = rng.chance(0.6);
    // an answer for a name the machine does not use, sometimes
    if (rng.chance(0.05)) out.unusedGuard = true;
    return out;
  }
}

export function generateRandomCase(seed, index) {
  const rng = makeRng(seed);
  const gen = new RandomMachine(rng);
  const machine = gen.build();
  validateDefinition(machine);
  const spawnGuards = rng.chance(0.25) ? gen.guardAnswers() ?? {} : undefined;
  const session = new Session(machine, spawnGuards);
  const steps = [];
  const nSteps = rng.int(5, 30);
  const vocab = gen.vocabulary();
  if (session.initial.error === undefined) {
    for (let i = 0; i < nSteps && session.active; i++) {
      const r = rng.float();
      let rec;
      if (r < 0.1 && session.pending.length) {
        rec = session.fireTimer(rng.pick(session.pending).type);
      } else if (r < 0.2) {
        rec = session.send(gen.unknownEvent(), gen.guardAnswers());
      } else {
        rec = session.send(rng.pick(vocab), gen.guardAnswers());
      }
      steps.push(rec);
      if (rec.error !== undefined) break;
    }
  }
  session.stop();
  return { line: fixtureLine(`random-${String(index).padStart(5, '0')}`, machine, spawnGuards, session, steps), session };
}

// ---------------------------------------------------------------------------
// Independent check of skruntime's definition rules. Every fixture machine
// (random and hand-written) must pass it: a failure is a generator or case
// bug, never something to record.
// ---------------------------------------------------------------------------

const ROOT_KEYS = new Set(['id', 'initial', 'states', 'type', 'on', 'always', 'after', 'entry', 'exit', 'context', 'output', 'tags', 'meta', 'description']);
const NODE_KEYS = new Set(['id', 'type', 'initial', 'states', 'on', 'always', 'after', 'onDone', 'entry', 'exit', 'tags', 'meta', 'description', 'output']);
const HISTORY_NODE_KEYS = new Set(['type', 'history', 'target']);
const TRANSITION_KEYS = new Set(['target', 'guard', 'actions', 'reenter', 'description', 'meta']);
const STATE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DELAY_KEY = /^(0|[1-9][0-9]*)$/;

export function validateDefinition(def) {
  const fail = (where, msg) => {
    throw new NonConformingError(`invalid definition at ${where || '/'}: ${msg}`);
  };
  const ids = new Map(); // id -> node record
  const records = [];
  // pass 1: structure and ids
  const walk = (node, parent, key, pointer) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) fail(pointer, 'state is not an object');
    const isRoot = parent === null;
    const type = node.type ?? (node.states && Object.keys(node.states).length ? 'compound' : 'atomic');
    const rec = { node, parent, key, pointer, type, children: new Map(), path: parent ? [...parent.path, key] : [] };
    records.push(rec);
    const allowed = type === 'history' ? HISTORY_NODE_KEYS : isRoot ? ROOT_KEYS : NODE_KEYS;
    for (const k of Object.keys(node)) if (!allowed.has(k)) fail(pointer, `unexpected key ${k}`);
    if (!['atomic', 'compound', 'parallel', 'final', 'history'].includes(type)) fail(pointer, `bad type ${type}`);
    if (isRoot && (type === 'history' || type === 'final' || type === 'atomic')) fail(pointer, `root cannot be ${type}`);
    if (isRoot && typeof node.id !== 'string') fail(pointer, 'root needs an id');
    if (node.output !== undefined && !isRoot && type !== 'final') fail(pointer, 'output outside final/root');
    if (type === 'history') {
      if (!['shallow', 'deep'].includes(node.history)) fail(pointer, 'history must be shallow|deep');
      if (!parent || !['compound', 'parallel'].includes(parent.type)) fail(pointer, 'history outside a compound/parallel state');
    }
    const hasChildren = node.states && Object.keys(node.states).length > 0;
    if ((type === 'atomic' || type === 'final') && hasChildren) fail(pointer, `${type} with children`);
    if ((type === 'compound' || type === 'parallel') && !hasChildren) fail(pointer, `${type} without children`);
    if (type === 'final' && (node.on || node.always || node.after || node.onDone)) fail(pointer, 'transitions on a final state');
    const id = type === 'history' ? null : node.id !== undefined ? node.id : [rootRec?.node.id ?? node.id, ...rec.path].join('.');
    if (node.id !== undefined && (typeof node.id !== 'string' || !node.id || node.id.includes('.') || node.id.includes('#'))) {
      fail(pointer, `bad id ${node.id}`);
    }
    rec.id = id;
    if (id !== null) {
      if (ids.has(id)) fail(pointer, `duplicate id ${id}`);
      ids.set(id, rec);
    }
    if (isRoot) rootRec = rec;
    if (node.states) {
      for (const [k, child] of Object.entries(node.states)) {
        if (!STATE_KEY.test(k)) fail(pointer, `bad state key ${k}`);
        const c = walk(child, rec, k, `${pointer}/states/${k}`);
        rec.children.set(k, c);
      }
    }
    if (type === 'compound') {
      if (typeof node.initial !== 'string' || !rec.children.has(node.initial)) fail(pointer, 'initial must name a child');
      if (rec.children.get(node.initial).type === 'history') fail(pointer, 'initial names a history state');
    } else if (node.initial !== undefined) fail(pointer, 'initial on a non-compound state');
    if (isRoot && node.onDone !== undefined) fail(pointer, 'onDone on the root');
    if (node.onDone !== undefined && type !== 'compound' && type !== 'parallel') fail(pointer, 'onDone on a simple state');
    return rec;
  };
  let rootRec = null;
  walk(def, null, null, '');
  const isAnc = (a, b) => {
    for (let n = b; n; n = n.parent) if (n === a) return true;
    return false;
  };
  const byPath = (from, path, pointer) => {
    let n = from;
    for (const k of path.split('.')) {
      n = n.children.get(k);
      if (!n) fail(pointer, `unknown target ${path}`);
    }
    return n;
  };
  const resolve = (src, target, pointer) => {
    if (typeof target !== 'string' || !target) fail(pointer, 'target must be a non-empty string');
    if (target.startsWith('#')) {
      // `#id.a.b`: the first segment is an id (custom ids have no dots, so
      // `#rootId.a.b` names the node whose generated id is `rootId.a.b`)
      const [first, ...rest] = target.slice(1).split('.');
      if (!ids.has(first)) fail(pointer, `unknown id ${target}`);
      return rest.length ? byPath(ids.get(first), rest.join('.'), pointer) : ids.get(first);
    }
    if (target.startsWith('.')) return byPath(src, target.slice(1), pointer);
    if (!src.parent) fail(pointer, `sibling target ${target} from the root`);
    return byPath(src.parent, target, pointer);
  };
  const validateGuard = (g, pointer) => {
    if (typeof g === 'string') {
      if (!g || COMBINATORS.has(g)) fail(pointer, `bad guard name ${g}`);
      return;
    }
    if (!g || typeof g !== 'object' || typeof g.type !== 'string' || !g.type) fail(pointer, 'bad guard');
    if (g.type === 'and' || g.type === 'or' || g.type === 'not') {
      if (!Array.isArray(g.guards)) fail(pointer, `${g.type} needs guards`);
      if (g.type === 'not' && g.guards.length !== 1) fail(pointer, 'not takes exactly one guard');
      g.guards.forEach((x, i) => validateGuard(x, `${pointer}/guards/${i}`));
    } else if (g.type === 'stateIn') {
      const v = g.stateValue;
      if (typeof v === 'string' && v.startsWith('#') && !ids.has(v.slice(1))) fail(pointer, `stateIn unknown id ${v}`);
      if (typeof v === 'string' && !v.startsWith('#')) byPath(rootRec, v, pointer);
      if (typeof v === 'object') {
        const check = (rec, value) => {
          if (typeof value === 'string') return byPath(rec, value, pointer);
          for (const [k, sub] of Object.entries(value)) check(byPath(rec, k, pointer), sub);
        };
        check(rootRec, v);
      }
    }
  };
  const validateActions = (a, pointer) => {
    for (const x of Array.isArray(a) ? a : [a]) {
      const type = typeof x === 'string' ? x : x?.type;
      if (typeof type !== 'string' || !type || type.startsWith('xstate.')) fail(pointer, `bad action ${JSON.stringify(x)}`);
    }
  };
  const validateTransitions = (src, config, pointer) => {
    const list = Array.isArray(config) ? config : [config];
    list.forEach((t, i) => {
      const p = Array.isArray(config) ? `${pointer}/${i}` : pointer;
      const obj = typeof t === 'string' ? { target: t } : t;
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) fail(p, 'bad transition');
      for (const k of Object.keys(obj)) if (!TRANSITION_KEYS.has(k)) fail(p, `unexpected transition key ${k}`);
      if (obj.guard !== undefined) validateGuard(obj.guard, `${p}/guard`);
      if (obj.actions !== undefined) validateActions(obj.actions, `${p}/actions`);
      if (obj.reenter !== undefined && typeof obj.reenter !== 'boolean') fail(p, 'reenter must be boolean');
      if (obj.target === undefined) return;
      const targets = (Array.isArray(obj.target) ? obj.target : [obj.target]).map((e) => resolve(src, e, `${p}/target`));
      if (!targets.length) fail(p, 'empty target list');
      for (let a = 0; a < targets.length; a++) {
        for (let b = a + 1; b < targets.length; b++) {
          const [x, y] = [targets[a], targets[b]];
          if (isAnc(x, y) || isAnc(y, x)) fail(p, 'multi-target: one target contains another');
          let lca = x.parent;
          while (!isAnc(lca, y)) lca = lca.parent;
          if (lca.type !== 'parallel') fail(p, 'multi-target outside parallel regions');
        }
      }
    });
  };
  for (const rec of records) {
    const { node, pointer } = rec;
    if (rec.type === 'history') {
      if (node.target !== undefined) {
        const t = byPath(rec.parent, node.target, pointer);
        if (t.type === 'history') fail(pointer, 'history target is a history state');
      }
      continue;
    }
    if (node.entry !== undefined) validateActions(node.entry, `${pointer}/entry`);
    if (node.exit !== undefined) validateActions(node.exit, `${pointer}/exit`);
    for (const [d, t] of Object.entries(node.on ?? {})) {
      if (!d || d.length > 128 || d.startsWith('xstate.')) fail(pointer, `bad event descriptor ${d}`);
      if (d.includes('*') && d !== '*' && !(d.endsWith('.*') && !d.slice(0, -2).includes('*'))) fail(pointer, `bad wildcard ${d}`);
      validateTransitions(rec, t, `${pointer}/on/${d}`);
    }
    if (node.always !== undefined) validateTransitions(rec, node.always, `${pointer}/always`);
    for (const [d, t] of Object.entries(node.after ?? {})) {
      if (!DELAY_KEY.test(d)) fail(pointer, `bad delay ${d}`);
      if (Array.isArray(t) && t.some((x) => typeof x === 'string')) fail(pointer, `bare string in the after list ${d}`);
      validateTransitions(rec, t, `${pointer}/after/${d}`);
    }
    if (node.onDone !== undefined) validateTransitions(rec, node.onDone, `${pointer}/onDone`);
  }
}

// ---------------------------------------------------------------------------
// Coverage
// ---------------------------------------------------------------------------

function staticFeatures(def) {
  const f = new Set();
  const visitGuard = (g) => {
    if (typeof g === 'string') return f.add('guard:name');
    if (COMBINATORS.has(g.type)) {
      f.add(`guard:${g.type}`);
      if (g.type === 'stateIn') {
        const v = g.stateValue;
        f.add(typeof v === 'object' ? 'guard:stateIn:object' : v.startsWith('#') ? 'guard:stateIn:#id' : 'guard:stateIn:string');
      }
      (g.guards ?? []).forEach(visitGuard);
      return;
    }
    f.add('params' in g ? 'guard:{type,params}' : 'guard:{type}');
  };
  const visitActions = (a) => {
    for (const x of Array.isArray(a) ? a : [a]) if (typeof x === 'object' && 'params' in x) f.add('action:params');
  };
  const visitTransitions = (config, where) => {
    for (const t of Array.isArray(config) ? config : [config]) {
      f.add(`transition:${where}`);
      const obj = typeof t === 'string' ? { target: t } : t;
      if (Array.isArray(config) && config.length > 1) f.add('transition:candidate-list');
      if (obj.guard !== undefined) visitGuard(obj.guard);
      else if (where === 'always' && obj.target !== undefined) f.add('always:unguarded-target');
      if (obj.actions !== undefined) visitActions(obj.actions);
      if (obj.reenter) f.add('reenter');
      if (obj.target === undefined) f.add(obj.actions === undefined ? 'targetless:empty' : 'targetless:actions');
      const targets = obj.target === undefined ? [] : Array.isArray(obj.target) ? obj.target : [obj.target];
      if (targets.length > 1) f.add('target:multi');
      for (const e of targets) {
        if (e.startsWith('#')) f.add('target:#id');
        else if (e.startsWith('.')) f.add('target:.child');
        else f.add('target:sibling');
      }
    }
  };
  const visit = (n, parent, isRoot) => {
    const type = n.type ?? (n.states && Object.keys(n.states).length ? 'compound' : 'atomic');
    if (!isRoot) f.add(`state:${type}`);
    if (type === 'history') {
      f.add(`history:${n.history}`);
      if (n.target !== undefined) f.add('history:default-target');
      if (parent.type === 'parallel') f.add('history:in-parallel');
      return;
    }
    if (type === 'final' && parent && isRoot === false && parent.__root) f.add('final:top-level');
    if (n.entry !== undefined) (f.add('entry'), visitActions(n.entry));
    if (n.exit !== undefined) (f.add('exit'), visitActions(n.exit));
    for (const [d, t] of Object.entries(n.on ?? {})) {
      if (d === '*') f.add('on:*');
      else if (d.endsWith('.*')) f.add('on:partial-wildcard');
      visitTransitions(t, 'on');
    }
    if (n.always !== undefined) visitTransitions(n.always, 'always');
    for (const t of Object.values(n.after ?? {})) (f.add('after'), visitTransitions(t, 'after'));
    if (n.onDone !== undefined) visitTransitions(n.onDone, 'onDone');
    if (type === 'parallel') {
      const r = Object.values(n.states).filter((s) => s.type !== 'history').length;
      f.add(`parallel:${r}-regions`);
    }
    for (const child of Object.values(n.states ?? {})) visit(child, { ...n, type, __root: isRoot }, false);
  };
  visit(def, null, true);
  if (def.output !== undefined) f.add('root:output');
  if (def.context !== undefined) f.add('root:context');
  if (def.id !== undefined) f.add('root:id');
  return f;
}

function dynamicFeatures(line, session) {
  const f = new Set();
  if (line.spawnGuards !== undefined) f.add('run:spawn-guards');
  if (line.initial.error) f.add('run:initial-infinite-loop');
  if (line.initial.status === 'done') f.add('run:done-at-spawn');
  for (const s of line.steps) {
    if (s.error) f.add('run:infinite-loop');
    if (s.timer) f.add('run:timer-fired');
    if (s.handled === false) f.add('run:unhandled-event');
    if (s.status === 'done') f.add('run:done');
    if (s.output !== undefined) f.add('run:output');
  }
  for (const { eventType, t } of session.transitionsTaken) {
    const d = t.eventType;
    if (d === '') f.add('taken:always');
    else if (d === '*') {
      f.add('taken:*');
      if (eventType.startsWith('xstate.done.')) f.add('taken:*-caught-done-event');
      if (eventType.startsWith('xstate.after.')) f.add('taken:*-caught-after-event');
    } else if (d.endsWith('.*')) {
      f.add('taken:partial-wildcard');
      if (eventType === d.slice(0, -2)) f.add('taken:partial-wildcard-bare-prefix');
    } else if (d.startsWith('xstate.after.')) f.add('taken:after');
    else if (d.startsWith('xstate.done.state.')) f.add('taken:onDone');
    if (t.target?.some((n) => n.type === 'history')) f.add('taken:history');
    if (t.target?.length > 1) f.add('taken:multi-target');
    if (t.reenter) f.add('taken:reenter');
    if (!t.target) f.add('taken:targetless');
  }
  return f;
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Key order. A JS object lists integer-like keys ("50", "1000") first, in
// numeric order, whatever order they were written in; Python's json keeps the
// written order. XState sees `after: {"1000": .., "50": ..}` in numeric order,
// so the fixtures must carry the order the author wrote for the Python side to
// be tested on it. Objects whose written order differs carry it under KEY_ORDER.
// ---------------------------------------------------------------------------

const KEY_ORDER = Symbol('keyOrder');

function withKeyOrder(obj, keys) {
  const natural = Object.keys(obj);
  if (keys.some((k, i) => natural[i] !== k)) Object.defineProperty(obj, KEY_ORDER, { value: keys });
  return obj;
}

/** JSON.stringify that honours KEY_ORDER (compact, no undefined values). */
function stringify(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stringify).join(',')}]`;
  const keys = value[KEY_ORDER] ?? Object.keys(value);
  return `{${keys.filter((k) => value[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stringify(value[k])}`).join(',')}}`;
}

/** JSON.parse that records each object's written key order. */
function parseJsonKeepingOrder(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (msg) => {
    throw new SyntaxError(`${msg} at offset ${i}`);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      const keys = [];
      ws();
      if (text[i] === '}') return i++, obj;
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        ws();
        if (text[i++] !== ':') fail('expected :');
        if (Object.hasOwn(obj, key)) fail(`duplicate key ${key}`);
        obj[key] = value();
        keys.push(key);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return i++, withKeyOrder(obj, keys);
        else fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') return i++, arr;
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return i++, arr;
        else fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected token');
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const string = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const result = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return result;
}

function writeJsonlGz(path, lines) {
  const text = lines.map((l) => stringify(l)).join('\n') + '\n';
  const gz = gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
  writeFileSync(path, gz);
  return { raw: text.length, gz: gz.length };
}

function summarize(title, entries) {
  const counts = new Map();
  let steps = 0;
  for (const { line, features } of entries) {
    steps += line.steps.length;
    for (const k of features) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  console.log(`\n${title}: ${entries.length} cases, ${steps} steps`);
  for (const k of [...counts.keys()].sort()) console.log(`  ${k.padEnd(40)} ${counts.get(k)}`);
}

function main() {
  const seed = process.argv[2] !== undefined ? Number(process.argv[2]) >>> 0 : DEFAULT_SEED;
  const count = process.argv[3] !== undefined ? Number(process.argv[3]) : DEFAULT_RANDOM_CASES;
  mkdirSync(join(HERE, 'fixtures'), { recursive: true });

  // hand-written
  const caseDir = join(HERE, 'cases');
  const files = readdirSync(caseDir).filter((f) => f.endsWith('.json')).sort();
  const hand = [];
  const names = new Set();
  for (const file of files) {
    const caseDef = parseJsonKeepingOrder(readFileSync(join(caseDir, file), 'utf8'));
    if (names.has(caseDef.name)) throw new Error(`${file}: duplicate case name ${caseDef.name}`);
    names.add(caseDef.name);
    const line = runHandwritten(file, caseDef);
    hand.push({ line, features: staticFeatures(caseDef.machine) });
  }
  const handSize = writeJsonlGz(join(HERE, 'fixtures', 'handwritten.jsonl.gz'), hand.map((e) => e.line));

  // random
  const random = [];
  const discarded = new Map();
  let attempt = 0;
  while (random.length < count) {
    const caseSeed = mixSeed(seed, attempt++);
    try {
      const { line, session } = generateRandomCase(caseSeed, random.length);
      const features = staticFeatures(line.machine);
      for (const k of dynamicFeatures(line, session)) features.add(k);
      random.push({ line, features });
    } catch (err) {
      if (err instanceof NonConformingError) throw err;
      const reason = String(err?.message ?? err).split('\n')[0].replace(/'[^']*'|"[^"]*"|#[\w.]+/g, '…');
      discarded.set(reason, (discarded.get(reason) ?? 0) + 1);
    }
  }
  const randomSize = writeJsonlGz(join(HERE, 'fixtures', 'random.jsonl.gz'), random.map((e) => e.line));

  summarize('handwritten', hand);
  summarize(`random (seed ${seed})`, random);
  const totalDiscarded = [...discarded.values()].reduce((a, b) => a + b, 0);
  console.log(`\ndiscarded random machines: ${totalDiscarded} of ${attempt}`);
  for (const [reason, n] of [...discarded.entries()].sort((a, b) => b[1] - a[1])) console.log(`  ${n}  ${reason}`);
  console.log(`\nfixtures/handwritten.jsonl.gz: ${hand.length} cases, ${handSize.gz} bytes (${handSize.raw} raw)`);
  console.log(`fixtures/random.jsonl.gz: ${random.length} cases, ${randomSize.gz} bytes (${randomSize.raw} raw)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
