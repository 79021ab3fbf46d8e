// Browser client for the realtime edge: one ES module, no dependencies.
//
//   import { connect } from "/client.js";
//   const client = connect("wss://edge.example.com:9009/realtime", token);
//   client.subscribe(["payload.list"], { payloadId: "123" });
//   client.on("event", (event) => render(client.state.get(event.topic)));
//
// It keeps the subscriptions alive across disconnects: every reconnect
// subscribes again with `since` (the last seq seen per topic), so nothing is
// lost or repeated. It pings every 30 s, backs off exponentially with full
// jitter, and follows the close codes: 4401 stops and emits "unauthorized"
// (get a new token), 4400 and 1009 stop, 4429 waits at least 10 s, anything
// else reconnects.

const PING_EVERY_MS = 30000;
const SLOW_DOWN_MS = 10000;
const STOP = { 4401: "unauthorized", 4400: "failed", 1009: "failed" };

export function connect(url, token, options = {}) {
  return new RealtimeClient(url, token, options);
}

export class RealtimeClient {
  constructor(url, token, { baseDelayMs = 500, maxDelayMs = 30000 } = {}) {
    this.url = url;
    this.token = token;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.wanted = new Map(); // topic -> scopes or null
    this.lastSeq = new Map(); // topic -> last seq received
    this.position = new Map(); // topic -> subscribed.seq of the last confirmation
    this.state = new Map(); // topic -> Map(subject -> latest event)
    this.status = "connecting";
    this.reconnects = 0;
    this.attempt = 0;
    this.handlers = new Map();
    this.closed = false;
    this.open();
  }

  on(name, handler) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(handler);
    return this;
  }

  subscribe(topics, scopes = null) {
    for (const topic of topics) this.wanted.set(topic, scopes);
    this.sendSubscribe(topics);
  }

  unsubscribe(topics) {
    for (const topic of topics) {
      this.wanted.delete(topic);
      this.state.delete(topic);
    }
    this.send({ op: "unsubscribe", topics });
  }

  close() {
    this.closed = true;
    clearInterval(this.pinger);
    clearTimeout(this.retry);
    if (this.ws) this.ws.close(1000);
    this.setStatus("closed");
  }

  // -- inside ------------------------------------------------------------------

  emit(name, value) {
    for (const handler of this.handlers.get(name) || []) handler(value);
  }

  setStatus(status) {
    this.status = status;
    this.emit("status", status);
  }

  open() {
    const ws = new WebSocket(`${this.url}?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    ws.onopen = () => {
      this.setStatus("connected");
      this.sendSubscribe([...this.wanted.keys()]);
      this.pinger = setInterval(() => this.send({ op: "ping" }), PING_EVERY_MS);
    };
    ws.onmessage = (message) => this.receive(JSON.parse(message.data));
    ws.onclose = (event) => this.lost(event.code);
  }

  lost(code) {
    clearInterval(this.pinger);
    if (this.closed) return;
    if (STOP[code]) {
      this.setStatus(STOP[code]);
      this.emit(STOP[code], code);
      return;
    }
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.max(code === 4429 ? SLOW_DOWN_MS : 0, Math.random() * ceiling);
    this.setStatus("reconnecting");
    this.retry = setTimeout(() => {
      this.reconnects += 1;
      this.setStatus("connecting");
      this.open();
    }, delay);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
    }
  }

  sendSubscribe(topics) {
    for (const topic of topics) {
      const frame = { op: "subscribe", topics: [topic] };
      const scopes = this.wanted.get(topic);
      if (scopes) frame.scopes = scopes;
      if (this.position.has(topic)) {
        const seen = Math.max(this.position.get(topic), this.lastSeq.get(topic) || 0);
        frame.since = { [topic]: seen };
      }
      this.send(frame);
    }
  }

  receive(frame) {
    if (frame.op === "event") {
      // A resume never repeats, but a client must not count on it.
      if (frame.seq <= (this.lastSeq.get(frame.topic) || 0)) return;
      this.lastSeq.set(frame.topic, frame.seq);
      if (!this.state.has(frame.topic)) this.state.set(frame.topic, new Map());
      this.state.get(frame.topic).set(frame.subject, frame);
      this.emit("event", frame);
    } else if (frame.op === "subscribed") {
      this.attempt = 0;
      this.position.set(frame.topic, frame.seq);
      if (!frame.recovered) {
        // A fresh snapshot follows, from the start: the old state is gone.
        this.state.set(frame.topic, new Map());
        this.lastSeq.set(frame.topic, 0);
      }
      this.emit("subscribed", frame);
    } else if (frame.op === "error") {
      this.emit("error", frame);
    }
  }
}
