// Child process for the sql exactly-once test: runs the real Gateway (compiled, from dist/) with one sql
// source importing a PostgreSQL table into its queue (no sink: the queue keeps everything), and prints the
// source's committed position every 10 ms as `acked <last id> lag <rows left>`. The parent SIGKILLs it.
// Usage: node sql-gateway-child.mjs <data_dir> <pg port> <password file> <total rows> <batch size>
import { validateConfig } from '../../../dist/gateway/config/load.js';
import { Gateway } from '../../../dist/gateway/runtime/gateway.js';

const [dataDir, port, passwordFile, total, batch] = process.argv.slice(2);
const config = validateConfig({
  gateway: { id: 'gw-sql-crash', data_dir: dataDir },
  log: { level: 'silent' },
  sources: {
    historian: {
      type: 'sql',
      driver: 'postgres',
      host: '127.0.0.1',
      port: Number(port),
      database: 'plant',
      username: 'sluice',
      password_file: passwordFile,
      table: { name: 'big' },
      incremental: { mode: 'lastmodified', check_column: 'changed', key_column: 'id' },
      batch_size: Number(batch),
      poll_interval_ms: 20,
      device: 'dev-{line}',
      tag_columns: ['id'],
      layout: { type: 'wide', metrics: ['v'] },
    },
  },
});
const gw = await Gateway.start(config);
process.stdout.write('ready\n');
setInterval(() => {
  const h = gw.status().sources[0].health;
  const last = h.sql?.last?.key ?? 0;
  process.stdout.write(`acked ${last} lag ${Number(total) - last}\n`);
}, 10);
