// One process of field-load.mjs's devices: MQTT.js clients that each publish QoS 1 on their own clock (open
// loop: a message every 1/rate s whether or not earlier ones were acknowledged, as a device on a timer does;
// a slow PUBACK shows as latency, not as a lower offered rate). In a child process so that the gateway's CPU
// is measured alone. Driven over IPC by field-load.mjs:
//   parent -> { connect: { port, first, count, rate } }   child -> { connected }
//   parent -> 'measure' (zero the counters)                parent -> 'report' -> child -> { report }
//   parent -> 'end' (stop publishing, disconnect, exit)
// Not a bench itself.
import mqtt from 'mqtt';

/** PUBACK latency histogram: 10 us buckets up to 2 s; slower ones are kept exactly. */
const BUCKET_MS = 0.01;
const BUCKETS = 200_000;

let hist = new Uint32Array(BUCKETS);
let overflow = [];
let acked = 0;
let sent = 0;
let errors = 0;
let measuring = false;
let running = true;
let conns = [];

function noteAck(ms) {
  acked++;
  const b = Math.floor(ms / BUCKET_MS);
  if (b < BUCKETS) hist[b]++;
  else overflow.push(ms);
}

function pace(client, i, count, rate) {
  const interval = 1000 / rate;
  // Devices spread over one interval, so that they do not publish in lockstep.
  let next = performance.now() + (i / count) * interval;
  let value = 0;
  const tick = () => {
    if (!running) return;
    const now = performance.now();
    // Catch up if the timer was late (a loaded machine), so the offered rate stays what was asked.
    while (next <= now) {
      const t0 = performance.now();
      const counted = measuring;
      if (counted) sent++;
      client.publish(
        `sensors/dev${client.options.clientId}/temp`,
        String(value++ % 1000),
        { qos: 1 },
        (err) => {
          if (err) {
            errors++;
            return;
          }
          if (counted && measuring) noteAck(performance.now() - t0);
        },
      );
      next += interval;
    }
    setTimeout(tick, Math.max(0, next - performance.now()));
  };
  setTimeout(tick, Math.max(0, next - performance.now()));
}

process.on('message', async (m) => {
  if (m && typeof m === 'object' && 'connect' in m) {
    const { port, first, count, rate } = m.connect;
    conns = await Promise.all(
      Array.from({ length: count }, (_, k) =>
        mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `fl${first + k}`, reconnectPeriod: 0 }),
      ),
    );
    for (const c of conns) c.on('error', () => errors++);
    conns.forEach((c, k) => pace(c, k, count, rate));
    process.send({ connected: count });
  } else if (m === 'measure') {
    hist = new Uint32Array(BUCKETS);
    overflow = [];
    acked = 0;
    sent = 0;
    errors = 0;
    measuring = true;
  } else if (m === 'report') {
    measuring = false;
    // Sparse: [bucket, count] pairs.
    const pairs = [];
    for (let b = 0; b < BUCKETS; b++) if (hist[b] !== 0) pairs.push([b, hist[b]]);
    process.send({ report: { acked, sent, errors, pairs, overflow, bucketMs: BUCKET_MS } });
  } else if (m === 'end') {
    running = false;
    await Promise.allSettled(conns.map((c) => c.endAsync()));
    process.exit(0);
  }
});
process.send({ ready: true });
