// One WebSocket to WS /v1/watch, shared by the pages.  It authenticates with
// the first frame (browsers cannot set an Authorization header), subscribes
// what the open page watches, reconnects with a growing delay when the
// connection drops, and resumes actor subscriptions with fromSeq so that no
// change is missed or seen twice.

const MIN_DELAY = 500;
const MAX_DELAY = 10000;

export class Live {
  /**
   * @param {() => string|null} getKey the API key
   * @param {(state: string, text: string) => void} onStatus connection state changes
   * @param {(reason: string) => void} onUnauthorized the key was refused or revoked
   */
  constructor(getKey, onStatus, onUnauthorized) {
    this.getKey = getKey;
    this.onStatus = onStatus;
    this.onUnauthorized = onUnauthorized;
    this.subs = new Map(); // token -> {target, handlers, lastSeq}
    this.nextToken = 1;
    this.ws = null;
    this.delay = MIN_DELAY;
    this.timer = null;
    this.stopped = false;
    this.status("idle", "");
  }

  status(state, text) {
    this.state = state;
    this.onStatus(state, text);
  }

  /**
   * Watch an actor (`{actorId, fromSeq}`) or a version (`{versionId}`).
   * `handlers.change(frame)` gets each change frame; `handlers.open()` runs
   * each time the subscription is (re)established.  Returns an unwatch function.
   */
  watch(target, handlers) {
    const token = this.nextToken++;
    const sub = { target, handlers, lastSeq: target.fromSeq ?? null };
    this.subs.set(token, sub);
    this.stopped = false;
    clearTimeout(this.idleTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.subscribe(sub);
    else this.connect();
    return () => {
      this.subs.delete(token);
      if (this.ws && this.ws.readyState === WebSocket.OPEN && !this.watching(target)) {
        this.send({ op: "unsubscribe", ...this.targetOf(target) });
      }
      if (this.subs.size === 0) {
        // Keep the connection a moment: the next page usually watches something too.
        clearTimeout(this.idleTimer);
        this.idleTimer = setTimeout(() => {
          if (this.subs.size === 0) this.close();
        }, 3000);
      }
    };
  }

  targetOf(target) {
    return target.actorId !== undefined ? { actorId: target.actorId } : { versionId: target.versionId };
  }

  watching(target) {
    for (const sub of this.subs.values()) {
      if (target.actorId !== undefined && sub.target.actorId === target.actorId) return true;
      if (target.versionId !== undefined && sub.target.versionId === target.versionId) return true;
    }
    return false;
  }

  connect() {
    if (this.ws || this.stopped) return;
    const key = this.getKey();
    if (!key) return;
    clearTimeout(this.timer);
    this.status("connecting", "Live updates: connecting…");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1/watch`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.delay = MIN_DELAY;
      this.send({ op: "auth", key: this.getKey() });
      for (const sub of this.subs.values()) this.subscribe(sub);
      this.status("open", "Live updates: on");
    });
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === 4001) {
        this.stopped = true;
        this.status("closed", "Live updates: the API key was refused");
        this.onUnauthorized("the server closed the live connection: the API key is invalid or was revoked");
        return;
      }
      if (this.stopped || this.subs.size === 0) {
        this.status("idle", "");
        return;
      }
      this.status("reconnecting", "Live updates: reconnecting…");
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, MAX_DELAY);
    });
  }

  subscribe(sub) {
    const frame = { op: "subscribe", ...this.targetOf(sub.target) };
    if (sub.target.actorId !== undefined && sub.lastSeq !== null) frame.fromSeq = sub.lastSeq;
    this.send(frame);
    if (sub.handlers.open) sub.handlers.open();
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.op === "change") {
      for (const sub of this.subs.values()) {
        const t = sub.target;
        if (t.actorId !== undefined) {
          if (t.actorId !== frame.actorId) continue;
          if (frame.event !== null && sub.lastSeq !== null && frame.seq <= sub.lastSeq) continue; // seen
          sub.lastSeq = Math.max(sub.lastSeq ?? 0, frame.seq);
          sub.handlers.change(frame);
        } else if (t.versionId === frame.versionId || frame.event === null) {
          // A migration away from the watched version carries the new versionId.
          sub.handlers.change(frame);
        }
      }
    } else if (frame.op === "error") {
      if (frame.status === 401) {
        this.stopped = true;
        this.onUnauthorized(frame.detail || "the API key was refused");
      } else {
        this.status(this.state, "Live updates: " + (frame.detail || "an error"));
      }
    }
  }

  /** Stop everything (sign-out). */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.idleTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "done");
    this.status("idle", "");
  }
}
