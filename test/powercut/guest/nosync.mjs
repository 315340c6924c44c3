// Preloaded (`node --import`) by the must-fail run of the power-cut test: the same gateway, but its queue
// opened without fsync (the benchmarks' unsafe option), as a build that skipped the fsync would be. The
// test has to report lost PUBACKed readings with this; if it did not, it could not tell a durable queue
// from one that only reached the page cache.
import { Queue } from '../../../dist/gateway/queue/queue.js';

const open = Queue.open.bind(Queue);
Queue.open = (options) => open({ ...options, noSync: true });
process.stdout.write('@nosync the queue is opened without fsync\n');
