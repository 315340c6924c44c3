// The fleet channels and the last local reload on the status page, as the API reports them.
import { expect, test } from 'vitest';
import { renderStatusPage } from '../../gateway/observe/status-page.js';
import type { GatewayStatus } from '../../gateway/status.js';

const now = 1_800_000_000_000;

function status(control: GatewayStatus['control']): GatewayStatus {
  return {
    gateway: 'gw',
    startedAt: now - 60_000,
    queue: {
      origin: 1,
      depth: 0,
      bytes: 0,
      maxBytes: 1024,
      onFull: 'reject_new',
      firstSeq: 1,
      lastSeq: 0,
      dropped: 0,
      rejected: 0,
      commits: 0,
      commitMode: 'inline',
      commitModeFallbacks: 0,
      deadLetters: 0,
      cursors: [],
    } as unknown as GatewayStatus['queue'],
    sources: [],
    sinks: [],
    control,
  };
}

function page(control: GatewayStatus['control']): string {
  return renderStatusPage({
    now,
    status: status(control),
    health: { status: 'ok', check: 'ready', at: now, reasons: [], warnings: [], disk: null },
    totals: [],
    errors: [],
    history: [],
    windowMs: 60_000,
    refreshSeconds: 10,
  });
}

test('the status page lists the fleet channels and the last reload', () => {
  const html = page({
    channels: [
      {
        channel: 'mqtt',
        url: 'mqtt://fleet:1883',
        state: 'connecting',
        attempts: 7,
        lastError: { message: 'connect ECONNREFUSED <x>', at: now - 3000 },
        nextRetryAt: now + 2000,
        connectedAt: null,
      },
    ],
    reload: { result: 'failed', outcome: 'rejected', reason: 'invalid_config', error: 'bad', at: now - 5000 },
  });
  expect(html).toContain('<h2>Config channels</h2>');
  expect(html).toMatch(
    /<td>mqtt<\/td><td>mqtt:\/\/fleet:1883<\/td><td><span class="warn">connecting<\/span>/,
  );
  expect(html).toContain('3s ago: connect ECONNREFUSED &#60;x&#62;');
  expect(html).toMatch(
    /last reload of the local file: <span class="fail">failed \(rejected: invalid_config\)<\/span> 5s ago: bad/,
  );
  expect(page(null)).not.toContain('Config channels');
});
