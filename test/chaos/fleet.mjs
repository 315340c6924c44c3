// MQTT.js QoS 1 publishers for the chaos test, the soak and the end-to-end bench, with a ledger of what each
// one published and what got a PUBACK. Client c publishes `{"value":{"n":<its counter>,"t":<epoch ms>}}` on
// `sensors/<prefix><c>/load`, so every reading Kafka holds names its publisher (the device) and its number,
// and carries its publish time for latency. Plain JavaScript (typed by fleet.d.mts): benches run under node.
import mqtt from 'mqtt';

/** Epoch milliseconds with sub-millisecond resolution, comparable between processes of one host. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** One growable byte per id: 0 no, 1+ yes (a count saturating at 255 where counts are kept). */
class Marks {
  bytes = new Uint8Array(1024);
  mark(n) {
    if (n >= this.bytes.length) {
      let size = this.bytes.length;
      while (size <= n) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    if (this.bytes[n] < 255) this.bytes[n]++;
  }
  has(n) {
    return n < this.bytes.length && this.bytes[n] > 0;
  }
  count(n) {
    return n < this.bytes.length ? this.bytes[n] : 0;
  }
}

/** What each client published (n = 0 .. published-1) and which of those were PUBACKed. */
export class Ledger {
  constructor(prefix, clients) {
    this.prefix = prefix;
    this.published = new Array(clients).fill(0);
    this.acks = Array.from({ length: clients }, () => new Marks());
    this.ackedCount = 0;
  }
  device(c) {
    return `${this.prefix}${c}`;
  }
  /** The client index of a device name, or -1 when it is none of this fleet's. */
  client(device) {
    if (typeof device !== 'string' || !device.startsWith(this.prefix)) return -1;
    const c = Number(device.slice(this.prefix.length));
    return Number.isInteger(c) && c >= 0 && c < this.published.length ? c : -1;
  }
  acked(c, n) {
    if (!this.acks[c].has(n)) this.ackedCount++;
    this.acks[c].mark(n);
  }
  isAcked(c, n) {
    return this.acks[c].has(n);
  }
  get publishedCount() {
    return this.published.reduce((a, b) => a + b, 0);
  }
}

/**
 * Starts `clients` publishers on `url`. `rate` > 0: each publishes `rate` messages/s (paced by the clock, at
 * most `window` unacknowledged; a client that is offline skips its turn, as a device without a buffer would);
 * `rate` 0: each keeps `window` messages in flight, publishing on every PUBACK. Clients reconnect on their own
 * every `reconnectMs` (a restarted gateway, a reconnect storm); MQTT.js resends unacknowledged QoS 1 messages
 * after it reconnects, and their PUBACKs count when they come. `onAck(ms, c, n)` gets publish->PUBACK times.
 */
export async function startFleet({
  url,
  clients,
  rate = 0,
  window = 16,
  prefix = 'dev-',
  reconnectMs = 200,
  connectTimeoutMs = 30_000,
  onAck,
  onError,
}) {
  const ledger = new Ledger(prefix, clients);
  const inflight = new Array(clients).fill(0);
  let running = true;
  let paused = false;
  let errors = 0;
  const conns = [];
  const started = performance.now();
  for (let c = 0; c < clients; c++) {
    const client = mqtt.connect(url, {
      clientId: ledger.device(c),
      reconnectPeriod: reconnectMs,
      connectTimeout: 5_000,
      keepalive: 30,
    });
    // A refused or reset connection is what chaos is made of: counted, and the client reconnects.
    client.on('error', (err) => {
      errors++;
      onError?.(err);
    });
    conns.push(client);
  }
  await Promise.all(
    conns.map(
      (client) =>
        new Promise((resolve, reject) => {
          if (client.connected) return resolve();
          const timer = setTimeout(
            () => reject(new Error(`an MQTT client did not connect to ${url} within ${connectTimeoutMs} ms`)),
            connectTimeoutMs,
          );
          client.once('connect', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    ),
  );

  const topic = (c) => `sensors/${ledger.device(c)}/load`;
  const publish = (c) => {
    const client = conns[c];
    const n = ledger.published[c]++;
    inflight[c]++;
    const t = nowMs();
    const t0 = performance.now();
    client.publish(topic(c), `{"value":{"n":${n},"t":${t}}}`, { qos: 1 }, (err) => {
      inflight[c]--;
      // An error: the connection ended before the PUBACK (a killed gateway, stop()): not acknowledged, not owed.
      if (!err) {
        ledger.acked(c, n);
        onAck?.(performance.now() - t0, c, n);
      }
      if (rate > 0) return;
      // Keep the window full; after a failure, not at once (a client that fails fast would spin).
      const next = () => running && !paused && publish(c);
      if (err) setTimeout(next, 50);
      else next();
    });
  };

  let timer;
  if (rate > 0) {
    const sent = new Array(clients).fill(0); // turns taken, published or skipped
    timer = setInterval(() => {
      if (paused) return;
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      for (let c = 0; c < clients; c++) {
        while (sent[c] < due) {
          sent[c]++;
          if (conns[c].connected && inflight[c] < window) publish(c);
        }
      }
    }, 5);
  } else {
    for (let c = 0; c < clients; c++) for (let w = 0; w < window; w++) publish(c);
  }

  return {
    ledger,
    get errors() {
      return errors;
    },
    /** Unacknowledged publishes right now. */
    inflight: () => inflight.reduce((a, b) => a + b, 0),
    connected: () => conns.filter((c) => c.connected).length,
    /** Stops publishing new messages (in-flight ones still get their PUBACKs). */
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      if (rate === 0) for (let c = 0; c < clients; c++) while (inflight[c] < window) publish(c);
    },
    /** A reconnect storm: every connection is cut at once; the clients reconnect on their own. */
    storm() {
      for (const client of conns) client.stream?.destroy();
    },
    /** Waits (up to `timeoutMs`) for every in-flight publish to be acknowledged. */
    async settle(timeoutMs = 30_000) {
      const end = performance.now() + timeoutMs;
      while (inflight.some((x) => x > 0) && performance.now() < end)
        await new Promise((r) => setTimeout(r, 20));
      return inflight.reduce((a, b) => a + b, 0);
    },
    /** Stops publishing and closes every client; unacknowledged publishes are abandoned (not owed). */
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.all(conns.map((client) => client.endAsync(true)));
    },
  };
}
