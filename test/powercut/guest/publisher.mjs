// The power-cut guest's devices: P MQTT.js clients publishing QoS 1 to the gateway on 127.0.0.1:1883, each
// with W messages in flight, and printing every PUBACKed id on stdout (the serial console, which the host
// records) as `@ack <device>:<n>;`. Only the PUBACK callback prints: a line the host has is a message the
// gateway acknowledged. Ids are unique across rounds: device `r<round>p<publisher>`, n from 1.
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values } = parseArgs({
  options: {
    round: { type: 'string' },
    publishers: { type: 'string', default: '4' },
    window: { type: 'string', default: '16' },
  },
});
const round = Number(values.round);
const publishers = Number(values.publishers || 4);
const windowSize = Number(values.window || 16);
if (!Number.isInteger(round) || round < 1)
  throw new Error(`--round ${values.round}: expected a number from 1`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The gateway starts as slowly as this script under emulation: try until its broker answers. */
async function connect(clientId) {
  for (;;) {
    try {
      return await mqtt.connectAsync('mqtt://127.0.0.1:1883', {
        clientId,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
    } catch (err) {
      if (!['ECONNREFUSED', 'ECONNRESET'].includes(err.code))
        process.stdout.write(`publisher ${clientId}: ${err.message}\n`);
      await sleep(250);
    }
  }
}

// One write per event-loop turn: a tty write is synchronous, so fewer and larger writes leave more time
// for publishing.
let pending = '';
function print(line) {
  if (pending === '') setImmediate(flush);
  pending += line;
}
function flush() {
  const text = pending;
  pending = '';
  process.stdout.write(text);
}

async function publisher(p) {
  const device = `r${round}p${p}`;
  const client = await connect(`powercut-${device}`);
  client.on('error', (err) => print(`publisher ${device}: ${err.message}\n`));
  client.on('close', () => print(`publisher ${device}: connection closed\n`));
  print(`@connected ${device}\n`);
  let next = 1;
  const send = () => {
    const n = next++;
    client.publish(`pc/${device}/n`, String(n), { qos: 1 }, (err) => {
      if (err) {
        print(`publisher ${device}: ${n} not acknowledged: ${err.message}\n`);
        return;
      }
      print(`@ack ${device}:${n};\n`);
      send();
    });
  };
  for (let i = 0; i < windowSize; i++) send();
}

for (let p = 0; p < publishers; p++) void publisher(p);
