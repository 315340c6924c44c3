// HdfsPeer's stdin commands: one line, words separated by single spaces (paths must not hold spaces), one
// JSON answer: {"ok":true,...} or {"ok":false,"error":<Java class, the remote one for a NameNode refusal>,
// "message":...}. Files are read and written through Hadoop's own FileSystem client, the reference reader.
package dev.sluice.test.hdfs;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.SafeModeAction;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;
import org.apache.hadoop.hdfs.server.datanode.DataNode;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.security.token.Token;

final class Commands {
  static final String HELP =
      "state | safemode enter|leave|get | mkdir PATH [OCTAL] | chmod PATH OCTAL | chown PATH USER [GROUP]"
          + " | quota PATH NS|keep|clear DS|keep|clear | ls PATH | read PATH [text|base64]"
          + " | write PATH text|base64 DATA | rm PATH | dn-kill INDEX [dead] | dn-restart NAME | nn-restart INDEX [nowait]"
          + " | activate INDEX | failover | token RENEWER | token-renew TOKEN | token-cancel TOKEN | spnego URL"
          + " | bench-write PATH BYTES FILES dfs|webhdfs BLOCKSIZE";

  private final HdfsPeer peer;
  /** DataNodes stopped by dn-kill, by transfer address, kept to restart them on the same ports. */
  private final Map<String, MiniDFSCluster.DataNodeProperties> stopped = new HashMap<>();

  Commands(HdfsPeer peer) {
    this.peer = peer;
  }

  Map<String, Object> run(String line) {
    String[] w = line.split(" ");
    try {
      Map<String, Object> answer = dispatch(w);
      Map<String, Object> ok = Json.obj("ok", true, "command", w[0]);
      ok.putAll(answer);
      return ok;
    } catch (Exception e) {
      // A NameNode's refusal arrives wrapped: its own class (SafeModeException, DSQuotaExceededException,
      // AccessControlException, StandbyException) is what a test asserts on.
      String cls = e instanceof RemoteException r ? r.getClassName() : e.getClass().getName();
      String msg = e instanceof RemoteException r ? r.unwrapRemoteException().getMessage() : e.getMessage();
      return Json.obj("ok", false, "command", w[0], "error", cls, "message", firstLines(msg));
    }
  }

  private Map<String, Object> dispatch(String[] w) throws Exception {
    var fs = peer.fs;
    var cluster = peer.cluster;
    switch (w[0]) {
      case "state":
        return peer.describe();
      case "safemode": {
        SafeModeAction action =
            switch (arg(w, 1)) {
              case "enter" -> SafeModeAction.ENTER;
              case "leave" -> SafeModeAction.LEAVE;
              case "get" -> SafeModeAction.GET;
              default -> throw new IllegalArgumentException("safemode enter|leave|get");
            };
        return Json.obj("safemode", fs.setSafeMode(action));
      }
      case "mkdir": {
        Path p = new Path(arg(w, 1));
        boolean made = fs.mkdirs(p);
        // mkdirs applies the umask: an explicit mode is set afterwards, as `hdfs dfs -chmod` would.
        if (w.length > 2) fs.setPermission(p, new FsPermission(Short.parseShort(w[2], 8)));
        return Json.obj("made", made);
      }
      case "chmod":
        fs.setPermission(new Path(arg(w, 1)), new FsPermission(Short.parseShort(arg(w, 2), 8)));
        return Json.obj();
      case "chown":
        fs.setOwner(new Path(arg(w, 1)), arg(w, 2), w.length > 3 ? w[3] : null);
        return Json.obj();
      case "quota":
        fs.setQuota(new Path(arg(w, 1)), quota(arg(w, 2)), quota(arg(w, 3)));
        return Json.obj();
      case "ls": {
        List<Object> files = new ArrayList<>();
        for (FileStatus s : fs.listStatus(new Path(arg(w, 1)))) files.add(status(s));
        return Json.obj("files", files);
      }
      case "read": {
        byte[] bytes;
        try (InputStream in = fs.open(new Path(arg(w, 1)))) {
          ByteArrayOutputStream buf = new ByteArrayOutputStream();
          in.transferTo(buf);
          bytes = buf.toByteArray();
        }
        boolean text = w.length < 3 || w[2].equals("text");
        return Json.obj(
            "length", bytes.length,
            text ? "text" : "base64",
            text ? new String(bytes, StandardCharsets.UTF_8) : Base64.getEncoder().encodeToString(bytes));
      }
      case "write": {
        byte[] bytes =
            arg(w, 2).equals("base64")
                ? Base64.getDecoder().decode(w.length > 3 ? w[3] : "")
                : (w.length > 3 ? w[3] : "").getBytes(StandardCharsets.UTF_8);
        try (OutputStream o = fs.create(new Path(arg(w, 1)), true)) {
          o.write(bytes);
        }
        return Json.obj("length", bytes.length);
      }
      case "rm":
        return Json.obj("deleted", fs.delete(new Path(arg(w, 1)), true));
      case "dn-kill": {
        int i = Integer.parseInt(arg(w, 1));
        DataNode dn = cluster.getDataNodes().get(i);
        String name = HdfsPeer.hostPort(dn.getXferAddress());
        var id = dn.getDatanodeId();
        stopped.put(name, cluster.stopDataNode(i));
        // Without "dead" the NameNode learns of it as of a crash, when heartbeats have stopped for 20 s here
        // (2 x recheck + 10 x heartbeat), and may send clients there until then; "dead" skips the wait.
        boolean dead = w.length > 2 && w[2].equals("dead");
        if (dead) cluster.setDataNodeDead(id);
        return Json.obj("datanode", name, "markedDead", dead);
      }
      case "dn-restart": {
        MiniDFSCluster.DataNodeProperties props = stopped.remove(arg(w, 1));
        if (props == null) throw new IllegalArgumentException("no DataNode " + w[1] + " stopped by dn-kill");
        // Same ports: a client or NameNode that knew the DataNode finds it again.
        cluster.restartDataNode(props, true);
        cluster.waitActive();
        return Json.obj("datanode", w[1]);
      }
      case "nn-restart": {
        int i = Integer.parseInt(arg(w, 1));
        long t0 = System.nanoTime();
        // A restart that takes long (seen over 60 s in full test runs, cause not found yet) says where it is.
        Thread self = Thread.currentThread();
        Thread watchdog =
            new Thread(
                () -> {
                  for (int s = 20; ; s += 20) {
                    try {
                      Thread.sleep(20_000);
                    } catch (InterruptedException e) {
                      return; // the restart returned
                    }
                    StringBuilder b = new StringBuilder("hdfs peer: nn-restart still running after " + s + " s, at:");
                    for (StackTraceElement f : self.getStackTrace()) b.append("\n  at ").append(f);
                    System.err.println(b);
                  }
                },
                "nn-restart-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
          cluster.restartNameNode(i, true);
        } finally {
          watchdog.interrupt();
        }
        System.err.println(
            "hdfs peer: restartNameNode returned after " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        // A restarted NameNode stays in safe mode until the DataNodes' block reports reach its threshold, and
        // redirects no WebHDFS write ("Failed to find datanode", 403) until they count as live: refusals a
        // client of a real restart sees. Unless "nowait", the answer waits until both are over.
        boolean wait = !(w.length > 2 && w[2].equals("nowait"));
        long deadline = System.nanoTime() + 60_000_000_000L;
        int running = cluster.getDataNodes().size();
        while (wait
            && (cluster.getNameNode(i).isInSafeMode()
                || cluster.getNameNode(i).getNamesystem().getNumLiveDataNodes() < running)
            && System.nanoTime() < deadline) {
          Thread.sleep(100);
        }
        Map<String, Object> d = peer.describe();
        d.put("safemode", cluster.getNameNode(i).isInSafeMode());
        d.put("restartMillis", (System.nanoTime() - t0) / 1_000_000);
        return d;
      }
      case "activate": {
        activate(Integer.parseInt(arg(w, 1)));
        return peer.describe();
      }
      case "failover": {
        int n = cluster.getNameNodeInfos().length;
        if (n < 2) throw new IllegalStateException("failover needs the ha variant");
        int active = -1;
        for (int i = 0; i < n; i++) {
          if (cluster.isNameNodeUp(i) && cluster.getNameNode(i).isActiveState()) active = i;
        }
        activate(active < 0 ? 0 : (active + 1) % n);
        return peer.describe();
      }
      case "token": {
        // Secure: owned by the test user (Kerberos login from its keytab). Simple auth issues none (null).
        Token<?> t = peer.secure != null ? peer.secure.token(fs, arg(w, 1)) : fs.getDelegationToken(arg(w, 1));
        return Json.obj("token", t == null ? null : t.encodeToUrlString());
      }
      case "token-renew":
      case "token-cancel": {
        if (peer.secure == null) throw new IllegalStateException(w[0] + " needs the secure variant");
        long expiry = peer.secure.renewOrCancel(arg(w, 1), w[0].equals("token-renew"));
        return w[0].equals("token-renew") ? Json.obj("expiry", expiry) : Json.obj();
      }
      case "spnego": {
        if (peer.secure == null) throw new IllegalStateException("spnego needs the secure variant");
        return Json.obj("status", peer.secure.spnegoGet(arg(w, 1)));
      }
      case "bench-write":
        return Bench.write(
            peer, arg(w, 1), Long.parseLong(arg(w, 2)), Integer.parseInt(arg(w, 3)), arg(w, 4), Long.parseLong(arg(w, 5)));
      case "help":
        return Json.obj("help", HELP);
      default:
        throw new IllegalArgumentException("unknown command " + w[0] + "; " + HELP);
    }
  }

  /** Makes NameNode i the only active one: the others first go to standby, as a failover controller does. */
  private void activate(int target) throws Exception {
    var cluster = peer.cluster;
    for (int i = 0; i < cluster.getNameNodeInfos().length; i++) {
      if (i != target && cluster.isNameNodeUp(i) && cluster.getNameNode(i).isActiveState()) {
        cluster.transitionToStandby(i);
      }
    }
    if (!cluster.getNameNode(target).isActiveState()) cluster.transitionToActive(target);
  }

  /** A RemoteException's message carries the NameNode's stack trace: the text before it is the message. */
  private static String firstLines(String msg) {
    if (msg == null) return "";
    int at = msg.indexOf("\n\tat ");
    return at < 0 ? msg : msg.substring(0, at);
  }

  private static long quota(String v) {
    return switch (v) {
      case "keep" -> HdfsConstants.QUOTA_DONT_SET;
      case "clear" -> HdfsConstants.QUOTA_RESET;
      default -> Long.parseLong(v);
    };
  }

  private static Map<String, Object> status(FileStatus s) {
    return Json.obj(
        "name", s.getPath().getName(),
        "type", s.isDirectory() ? "DIRECTORY" : "FILE",
        "length", s.getLen(),
        "permission", Integer.toOctalString(s.getPermission().toShort()),
        "owner", s.getOwner(),
        "group", s.getGroup(),
        "replication", (int) s.getReplication(),
        "modificationTime", s.getModificationTime());
  }

  private static String arg(String[] w, int i) {
    if (w.length <= i) throw new IllegalArgumentException(w[0] + ": missing argument " + i + "; " + HELP);
    return w[i];
  }
}
