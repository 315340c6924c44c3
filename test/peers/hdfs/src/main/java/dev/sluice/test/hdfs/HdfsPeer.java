// A real HDFS for Sluice's tests: a MiniDFSCluster (3 DataNodes, WebHDFS, permissions on) on loopback ports,
// one JSON line on stdout when ready, then one command per stdin line and one JSON answer line each (the
// commands are in Commands.java). Exits, shutting the cluster down, when stdin closes. Run by index.ts.
package dev.sluice.test.hdfs;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.MiniDFSNNTopology;
import org.apache.hadoop.hdfs.server.datanode.DataNode;
import org.apache.hadoop.hdfs.server.namenode.NameNode;
import org.apache.hadoop.hdfs.server.namenode.ha.HATestUtil;
import org.apache.hadoop.security.UserGroupInformation;

public final class HdfsPeer {
  static final int DATANODES = 3;

  final String variant;
  final Configuration conf;
  final MiniDFSCluster cluster;
  /** The client the commands use: in HA a failover client over both NameNodes, so it follows the active. */
  final DistributedFileSystem fs;
  /** The secure variant's KDC and certificates; null otherwise. */
  final Secure secure;

  private HdfsPeer(String variant, Configuration conf, MiniDFSCluster cluster, DistributedFileSystem fs, Secure secure) {
    this.variant = variant;
    this.conf = conf;
    this.cluster = cluster;
    this.fs = fs;
    this.secure = secure;
  }

  public static void main(String[] args) throws Exception {
    boolean secure = args.length == 3 && args[0].equals("secure");
    if (!secure && (args.length != 2 || !List.of("simple", "ha").contains(args[0]))) {
      System.err.println("usage: HdfsPeer simple|ha <work dir> | HdfsPeer secure <work dir> <certificates dir>");
      System.exit(2);
    }
    // Answers are the only thing on stdout: whatever Hadoop prints there goes to stderr.
    PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    long t0 = System.nanoTime();
    HdfsPeer peer = start(args[0], new File(args[1]), secure ? new File(args[2]) : null);
    // A SIGTERM still shuts the cluster down (its storage is then left consistent for a look afterwards).
    Runtime.getRuntime().addShutdownHook(new Thread(peer::stop, "hdfs-peer-stop"));
    Map<String, Object> ready = peer.describe();
    ready.put("event", "ready");
    ready.put("startMillis", (System.nanoTime() - t0) / 1_000_000);
    ready.put("jvmUptimeMillis", ManagementFactory.getRuntimeMXBean().getUptime());
    out.println(Json.write(ready));

    Commands commands = new Commands(peer);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) continue;
      out.println(Json.write(commands.run(line.trim())));
    }
    // stdin closed: the test is done with us. Stopped here, not in the hook: MiniDFSCluster's shutdown
    // removes shutdown hooks, which Java refuses while the hooks run.
    peer.stop();
    System.exit(0);
  }

  static HdfsPeer start(String variant, File work, File certs) throws Exception {
    Configuration conf = new HdfsConfiguration();
    conf.setBoolean("dfs.permissions.enabled", true);
    conf.setBoolean("dfs.webhdfs.enabled", true);
    // Loopback only. MiniDFSCluster sets the NameNodes' addresses itself (127.0.0.1, port 0 = free); the
    // DataNodes read these, and every server they run binds to 127.0.0.1 on a free port.
    for (String key :
        List.of(
            "dfs.namenode.rpc-address",
            "dfs.namenode.http-address",
            "dfs.namenode.https-address",
            "dfs.namenode.secondary.http-address",
            "dfs.datanode.address",
            "dfs.datanode.http.address",
            "dfs.datanode.https.address",
            "dfs.datanode.ipc.address")) {
      conf.set(key, "127.0.0.1:0");
    }
    // WebHDFS redirects a client to a DataNode by the name the DataNode registered with: the loopback
    // address, not this machine's host name (which may resolve to another interface).
    conf.set("dfs.datanode.hostname", "127.0.0.1");
    // Quick reactions for fault tests: heartbeats every second, no 30 s wait after safe mode's threshold.
    conf.setLong("dfs.heartbeat.interval", 1);
    conf.setInt("dfs.namenode.safemode.extension", 0);
    conf.setInt("dfs.namenode.heartbeat.recheck-interval", 5_000);
    conf.setInt("dfs.namenode.stale.datanode.interval", 5_000);
    // 1 MiB blocks (HDFS's least): a file of a few MiB spans blocks and pipelines, so a DataNode killed
    // mid-upload or a space quota (charged a whole block times the replication per open block) bites at
    // test sizes rather than at 128 MiB.
    conf.setLong("dfs.blocksize", 1024 * 1024);
    Secure secure = variant.equals("secure") ? Secure.configure(conf, new File(work, "secure"), certs) : null;

    MiniDFSCluster.Builder builder =
        new MiniDFSCluster.Builder(conf, new File(work, "dfs"))
            .numDataNodes(DATANODES)
            .hosts(new String[] {"127.0.0.1", "127.0.0.1", "127.0.0.1"})
            // The DataNodes take the loopback addresses set above instead of MiniDFSCluster's own defaults.
            .checkDataNodeAddrConfig(true);
    if (variant.equals("ha")) builder.nnTopology(MiniDFSNNTopology.simpleHATopology());
    MiniDFSCluster cluster = builder.build();
    DistributedFileSystem fs;
    if (variant.equals("ha")) {
      // Both NameNodes start as standby; the first is made active, as an HA pair's failover controller would.
      cluster.transitionToActive(0);
      cluster.waitActive();
      fs = HATestUtil.configureFailoverFs(cluster, conf);
    } else {
      cluster.waitActive();
      fs = cluster.getFileSystem();
    }
    return new HdfsPeer(variant, conf, cluster, fs, secure);
  }

  private boolean stopped;

  synchronized void stop() {
    if (stopped) return;
    stopped = true;
    try {
      cluster.shutdown(true);
    } catch (RuntimeException e) {
      System.err.println("hdfs peer: shutdown failed: " + e);
    }
    if (secure != null) secure.close();
  }

  /** Addresses and states of every NameNode and running DataNode, for the ready line and `state`. */
  Map<String, Object> describe() throws Exception {
    List<Object> nns = new ArrayList<>();
    MiniDFSCluster.NameNodeInfo[] infos = cluster.getNameNodeInfos();
    for (int i = 0; i < infos.length; i++) {
      NameNode nn = cluster.isNameNodeUp(i) ? cluster.getNameNode(i) : null;
      nns.add(
          Json.obj(
              "index", i,
              "id", infos[i].getNamenodeId(),
              "up", nn != null,
              "state", nn == null ? null : nn.getState(),
              "rpc", nn == null ? null : hostPort(nn.getNameNodeAddress()),
              "http", nn == null || nn.getHttpAddress() == null ? null : hostPort(nn.getHttpAddress()),
              "https", nn == null || nn.getHttpsAddress() == null ? null : hostPort(nn.getHttpsAddress())));
    }
    List<Object> dns = new ArrayList<>();
    for (DataNode dn : cluster.getDataNodes()) {
      dns.add(
          Json.obj(
              "name", hostPort(dn.getXferAddress()),
              "http", dn.getInfoPort() > 0 ? "127.0.0.1:" + dn.getInfoPort() : null,
              "https", dn.getInfoSecurePort() > 0 ? "127.0.0.1:" + dn.getInfoSecurePort() : null,
              "ipc", "127.0.0.1:" + dn.getIpcPort()));
    }
    Map<String, Object> d =
        Json.obj(
            "variant", variant,
            // MiniDFSCluster names its NameNode "localhost", which may resolve to ::1 too: the address it bound.
            "fsUri", variant.equals("ha") ? fs.getUri().toString() : "hdfs://" + nns0(nns),
            "superuser", UserGroupInformation.getCurrentUser().getShortUserName(),
            "supergroup", conf.get("dfs.permissions.superusergroup", "supergroup"),
            "namenodes", nns,
            "datanodes", dns);
    if (secure != null) secure.describe(d);
    return d;
  }

  @SuppressWarnings("unchecked")
  private static Object nns0(List<Object> nns) {
    return ((Map<String, Object>) nns.get(0)).get("rpc");
  }

  static String hostPort(java.net.InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }
}
