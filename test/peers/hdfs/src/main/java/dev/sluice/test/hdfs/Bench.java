// The hdfs-drain benchmark's ceiling: the same bytes the sink wrote, written by Hadoop's own client from this
// JVM, timed here so that the JSON line round trip is not in the figure. "dfs" is DistributedFileSystem (RPC
// to the NameNode, DataTransferProtocol straight into the DataNode pipeline: the fastest way into HDFS);
// "webhdfs" is Hadoop's WebHdfsFileSystem (the same REST protocol the sink speaks, Hadoop's implementation).
package dev.sluice.test.hdfs;

import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

final class Bench {
  /** One write() call's size: what a buffering writer hands its stream; the stream packetizes it anyway. */
  static final int WRITE = 1 << 20;

  private Bench() {}

  static Map<String, Object> write(
      HdfsPeer peer, String dir, long bytes, int files, String client, long blockSize) throws Exception {
    if (files < 1 || bytes < files) throw new IllegalArgumentException("bench-write: BYTES >= FILES >= 1");
    FileSystem fs =
        switch (client) {
          case "dfs" -> peer.fs;
          // A fresh instance (not the cache): its connections are its own, closed below.
          case "webhdfs" -> FileSystem.newInstance(
              new URI("webhdfs://" + HdfsPeer.hostPort(peer.cluster.getNameNode(0).getHttpAddress())),
              peer.conf);
          default -> throw new IllegalArgumentException("bench-write: client dfs|webhdfs");
        };
    // Bytes like the sink's: JSON lines, built before the clock starts.
    byte[] line =
        "{\"id\":\"gw-bench:1\",\"gateway\":\"gw-bench\",\"seq\":1,\"device\":\"dev-1\",\"metric\":\"temperature\",\"value\":20.1,\"unit\":\"C\",\"ts\":1700000000001,\"source\":\"bench\"}\n"
            .getBytes(StandardCharsets.UTF_8);
    byte[] buf = new byte[WRITE];
    for (int o = 0; o < WRITE; o += line.length) System.arraycopy(line, 0, buf, o, Math.min(line.length, WRITE - o));
    long t0 = System.nanoTime();
    try {
      for (int f = 0; f < files; f++) {
        long size = bytes / files + (f == files - 1 ? bytes % files : 0);
        // Replication 3 and the block size given, as the sink asks for them (the cluster's own is 1 MiB).
        try (OutputStream out = fs.create(new Path(dir, "f-" + f), false, 64 * 1024, (short) 3, blockSize)) {
          for (long left = size; left > 0; left -= WRITE) out.write(buf, 0, (int) Math.min(WRITE, left));
        }
      }
    } finally {
      if (fs != peer.fs) fs.close();
    }
    long ms = (System.nanoTime() - t0) / 1_000_000;
    return Json.obj("client", client, "bytes", bytes, "files", files, "blockSize", blockSize, "ms", ms);
  }
}
