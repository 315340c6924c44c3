// The sink side's ack rule: the cursor moves past dropped entries, but never past a kept reading the sink
// has not committed, nor past one a processor still holds.
import { expect, test } from 'vitest';
import { SinkLedger } from '../../gateway/processors/sink-ledger.js';

const seqs = (...s: number[]): { seq: number }[] => s.map((seq) => ({ seq }));

test('acks past a dropped tail only once every kept reading before it is committed', () => {
  const l = new SinkLedger();
  l.record(10, seqs(2, 5)); // read 1..10, the chain kept 2 and 5
  expect(l.ackable(0, undefined, undefined)).toEqual({ upTo: 1, events: 0 });
  expect(l.ackable(0, 2, undefined)).toEqual({ upTo: 4, events: 1 });
  expect(l.ackable(4, 5, undefined)).toEqual({ upTo: 10, events: 1 });
  // A batch the chain dropped entirely is acked at once.
  l.record(20, []);
  expect(l.ackable(10, undefined, undefined)).toEqual({ upTo: 20, events: 0 });
});

test('batches are acked in order; a commit reported across batches counts each kept reading once', () => {
  const l = new SinkLedger();
  l.record(10, seqs(3));
  l.record(20, seqs(12, 15));
  l.record(30, []);
  expect(l.ackable(0, 12, undefined)).toEqual({ upTo: 14, events: 2 });
  expect(l.ackable(14, 12, undefined)).toEqual({ upTo: 14, events: 0 });
  expect(l.ackable(14, 15, undefined)).toEqual({ upTo: 30, events: 1 });
});

test('a processor holding readings caps the ack below the oldest it holds; clear forgets everything', () => {
  const l = new SinkLedger();
  l.record(10, seqs(9));
  expect(l.ackable(0, 9, 4)).toEqual({ upTo: 3, events: 1 });
  expect(l.ackable(3, undefined, 2)).toEqual({ upTo: 3, events: 0 });
  // Released: the ack goes on to the end of what was read.
  expect(l.ackable(3, undefined, undefined)).toEqual({ upTo: 10, events: 0 });
  l.record(20, seqs(15));
  l.clear();
  expect(l.ackable(3, undefined, undefined)).toEqual({ upTo: 3, events: 0 });
});
