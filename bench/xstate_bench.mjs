// The same machines and events as bench/transition.py, run by the real xstate
// (resolved from tests/conformance/node_modules).  Prints JSON: ns per event
// for xstate's pure transition() and for actor.send().
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/conformance/package.json', import.meta.url));
const { createMachine, createActor, initialTransition, transition } = require('xstate');
const [, , file, seconds = '1.5'] = process.argv;
const machines = JSON.parse(readFileSync(file, 'utf8'));
const budget = Number(seconds) * 1e9;

function measure(fn) {
  // run fn(n) with growing n until one batch takes ~budget/3, report best of 3
  let n = 1000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    fn(n);
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt > budget / 10 || n > 1e8) break;
    n *= 4;
  }
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    fn(n);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}

const out = {};
for (const [name, [definition, cycle]] of Object.entries(machines)) {
  const machine = createMachine(definition);
  const events = cycle.map((type) => ({ type }));
  const [initial] = initialTransition(machine);
  const pure = measure((n) => {
    let s = initial;
    for (let i = 0; i < n; i++) s = transition(machine, s, events[i % events.length])[0];
  });
  const actor = createActor(machine);
  actor.start();
  const send = measure((n) => {
    for (let i = 0; i < n; i++) actor.send(events[i % events.length]);
  });
  out[name] = { pureTransitionNs: pure, actorSendNs: send, xstate: require('xstate/package.json').version };
}
console.log(JSON.stringify(out));
