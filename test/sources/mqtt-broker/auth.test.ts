// Passwords: scrypt hashes and password files, never plain text.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { hashPassword, readPasswordFile, verifyPassword } from '../../../gateway/sources/mqtt-broker/auth.js';
import { schema as brokerSchema } from '../../../gateway/sources/mqtt-broker/index.js';
import { tempDir } from '../../helpers/tmp.js';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('passwords', () => {
  test('scrypt hashes verify the right password only', async () => {
    const hash = await hashPassword('s3cret', { ln: 10, r: 8, p: 1 });
    expect(hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    expect(await verifyPassword(utf8('s3cret'), hash)).toBe(true);
    expect(await verifyPassword(utf8('s3creT'), hash)).toBe(false);
    expect(await verifyPassword(utf8('s3cret'), 'plain')).toBe(false);
    expect(brokerSchema.safeParse({ type: 'mqtt_broker', users: { dev: 's3cret' } }).success).toBe(false);
  });
  test('password files hold username:hash lines; a bad line is refused without echoing it', async () => {
    const dir = tempDir('sluice-pw-');
    const file = join(dir, 'passwd');
    writeFileSync(file, `# devices\ndev-1:${await hashPassword('pw', { ln: 10, r: 8, p: 1 })}\n\n`);
    expect([...readPasswordFile(file).keys()]).toEqual(['dev-1']);
    writeFileSync(file, 'dev-2:plaintext-secret\n');
    expect(() => readPasswordFile(file)).toThrow(/passwd:1: expected username:\$scrypt/);
    expect(() => readPasswordFile(file)).not.toThrow(/plaintext-secret/);
  });
});
