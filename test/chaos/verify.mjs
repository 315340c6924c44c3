// What Kafka holds against what the publishers were promised: every PUBACKed reading present, nothing that
// was never published, and duplicates only of readings that arrived (a resend of the same queued entry,
// same id and content, or a QoS 1 retransmission stored again after its PUBACK was lost). The topic is read
// by kcat (librdkafka), not by the client under test, streamed so that a soak's millions of readings fit.
// Plain JavaScript (typed by verify.d.mts).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Calls `onValue(text)` for every message value of the topic, beginning to end; resolves with the count. */
export function kcatEach(bootstrap, topic, onValue, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'kcat',
      ['-C', '-e', '-q', '-o', 'beginning', '-b', bootstrap.join(','), '-t', topic, '-f', '%s\n'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let count = 0;
    let err = '';
    let failure;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr.on('data', (d) => (err = (err + d.toString()).slice(-3000)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (line.length === 0 || failure) return;
      count++;
      try {
        onValue(line);
      } catch (e) {
        failure = e;
        child.kill('SIGKILL');
      }
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (code !== 0) reject(new Error(`kcat read of ${topic} exited ${code ?? signal}:\n${err}`));
      else resolve(count);
    });
  });
}

/**
 * Reads the topic and checks it against `ledger` (fleet.mjs). Returns the figures and `problems`, a list of
 * what is wrong (empty when the guarantee held).
 */
export async function verifyTopic(bootstrap, topic, ledger) {
  const clients = ledger.published.length;
  const found = Array.from({ length: clients }, () => new Map()); // n -> seqs it was stored under
  const bySeq = new Map(); // gateway seq -> (client, n, t) of its first copy
  const problems = [];
  let messages = 0;
  let sameEntryCopies = 0;
  let foreign = 0;
  const note = (p) => {
    if (problems.length < 20) problems.push(p);
  };
  await kcatEach(bootstrap, topic, (text) => {
    messages++;
    const rec = JSON.parse(text);
    const c = ledger.client(rec.device);
    const n = rec.value?.n;
    if (c < 0 || !Number.isInteger(n)) {
      foreign++;
      note(`a message no publisher of this run sent: ${text.slice(0, 120)}`);
      return;
    }
    if (n >= ledger.published[c]) note(`${rec.device} #${n} is in Kafka but was never published`);
    const first = bySeq.get(rec.seq);
    if (first === undefined) bySeq.set(rec.seq, { c, n, t: rec.value.t });
    else {
      sameEntryCopies++;
      if (first.c !== c || first.n !== n || first.t !== rec.value.t)
        note(`id ${rec.id} twice with different content (${first.c}#${first.n} and ${c}#${n})`);
    }
    const seqs = found[c].get(n);
    if (seqs === undefined) found[c].set(n, [rec.seq]);
    else if (!seqs.includes(rec.seq)) seqs.push(rec.seq);
  });
  let acked = 0;
  let lost = 0;
  let restored = 0; // (client, n) stored under more than one seq: retransmitted after a lost PUBACK
  let deliveredUnacked = 0;
  for (let c = 0; c < clients; c++) {
    for (let n = 0; n < ledger.published[c]; n++) {
      const seqs = found[c].get(n);
      if (ledger.isAcked(c, n)) {
        acked++;
        if (seqs === undefined) {
          lost++;
          if (lost <= 5) note(`PUBACKed ${ledger.device(c)} #${n} is not in Kafka`);
        }
      } else if (seqs !== undefined) deliveredUnacked++;
      if (seqs !== undefined && seqs.length > 1) restored += seqs.length - 1;
    }
  }
  if (lost > 5) note(`... ${lost} PUBACKed readings missing in all`);
  const unique = found.reduce((s, m) => s + m.size, 0);
  return {
    messages,
    unique,
    acked,
    lost,
    duplicates: messages - unique - foreign,
    sameEntryCopies,
    restored,
    deliveredUnacked,
    problems,
  };
}
