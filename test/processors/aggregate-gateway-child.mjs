// Child process for the aggregate crash test: the real Gateway (compiled, from dist/) with one file sink
// taking 200 ms windows of a queue the parent filled, printing the sink's acked position every 20 ms. The
// parent SIGKILLs it at random moments, mid-aggregation.
// Usage: node aggregate-gateway-child.mjs <data_dir> <out_dir> [batch max_count, default 20]
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';

const [dataDir, outDir, maxCount = '20'] = process.argv.slice(2);
const config = validateConfig({
  gateway: { id: 'gw-agg', data_dir: dataDir },
  log: { level: 'silent' },
  sinks: {
    agg: {
      type: 'file',
      path: outDir,
      // Small files: windows are committed (and the cursor moves) all along, so kills land between.
      max_file_readings: 1,
      roll_interval_ms: 20,
      start_from: 'oldest',
      batch: { max_count: Number(maxCount), linger_ms: 0 },
      retry: { initial_ms: 20, max_ms: 200 },
      processors: [
        {
          type: 'aggregate',
          window_ms: 200,
          allowed_lateness_ms: 100,
          idle_grace_ms: 50,
          functions: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last', 'stddev'],
        },
      ],
    },
  },
});
const gw = await Gateway.start(config);
process.stdout.write('ready\n');
setInterval(() => {
  const c = gw.queue.cursorStats('agg');
  process.stdout.write(`acked ${c.acked} lag ${c.lag}\n`);
}, 20);
