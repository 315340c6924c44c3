// How WebHDFS answers seen on a real Hadoop 3.5 cluster are classified: the Java class decides, and a plain
// IOException whose message names a cause an operator can act on carries a hint.
import { expect, test } from 'vitest';
import { answerError } from '../../../gateway/sinks/hdfs/classify.js';

const remote = (exception: string, message: string): Buffer =>
  Buffer.from(
    JSON.stringify({ RemoteException: { exception, javaClassName: `java.io.${exception}`, message } }),
  );

test('fewer live DataNodes than the replication on APPEND: retriable, with a hint naming the fix', () => {
  // The DataNode's answer when one of 3 DataNodes is down and the file's replication is 3.
  const message =
    'Failed to replace a bad datanode on the existing pipeline due to no more good datanodes being available ' +
    "to try. (Nodes: current=[...], original=[...]). The current failed datanode replacement policy is DEFAULT, and a client may configure this via 'dfs.client.block.write.replace-datanode-on-failure.policy' in its configuration.";
  const err = answerError(
    'APPEND',
    '/d/x',
    403,
    'application/json',
    remote('IOException', message),
    undefined,
  );
  expect(err).toMatchObject({ code: 'SLUICE_SINK_WRITE', retriable: true, exception: 'IOException' });
  expect(err.hint).toMatch(/replication/);
});

test('the first write after a NameNode restart (EOFException from the DataNode) is retriable', () => {
  const err = answerError(
    'CREATE',
    '/d/x',
    403,
    'application/json',
    remote('EOFException', 'End of File Exception between local host is: ...'),
    undefined,
  );
  expect(err).toMatchObject({ code: 'SLUICE_SINK_WRITE', exception: 'EOFException' });
  expect(err.retriable).toBe(true);
});

test('a token refused as SecurityException (how Hadoop 3.5 wraps InvalidToken): the token hint', () => {
  // Verbatim from the kerberized peer (real-secure.test.ts): a cancelled token, then an expired one.
  const messages = [
    "Failed to obtain user group information: org.apache.hadoop.security.token.SecretManager$InvalidToken: Token for real user: , can't be found in cache",
    'Failed to obtain user group information: org.apache.hadoop.security.token.SecretManager$InvalidToken: Token  has expired, current time: 2026-12-02 00:52:18,675+0000 expected renewal time: 2026-12-02 00:52:16,139+0000',
  ];
  for (const message of messages) {
    const err = answerError(
      'LISTSTATUS',
      '/d',
      403,
      'application/json',
      remote('SecurityException', message),
      undefined,
    );
    expect(err).toMatchObject({ code: 'SLUICE_AUTH', retriable: false, exception: 'SecurityException' });
    expect(err.hint).toMatch(/delegation token expired or was cancelled/);
  }
  // Any other SecurityException keeps the general identity hint.
  const other = answerError(
    'LISTSTATUS',
    '/d',
    403,
    'application/json',
    remote('SecurityException', 'no user'),
    undefined,
  );
  expect(other.hint).toMatch(/refused the identity/);
});

test('a bare 404 (a NameNode starting, before WebHDFS is up) is retriable and never "not found"', () => {
  const err = answerError('MKDIRS', '/d', 404, undefined, Buffer.alloc(0), undefined);
  expect(err).toMatchObject({ code: 'SLUICE_SINK_WRITE', retriable: true, status: 404 });
  expect(err.hint).toMatch(/namenode is starting/);
});
