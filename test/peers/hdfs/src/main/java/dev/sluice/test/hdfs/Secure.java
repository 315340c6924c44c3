// The secure variant: a MiniKdc on loopback, Kerberos for RPC and for the DataNodes' data transfer (SASL,
// so no privileged ports), SPNEGO on every HTTP endpoint, and HTTPS only (swebhdfs) with the certificate
// index.ts made from a test CA. The launcher itself logs in as the hdfs service, HDFS's superuser.
package dev.sluice.test.hdfs;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PrivilegedExceptionAction;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Map;
import java.util.Properties;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.web.URLConnectionFactory;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.security.token.Token;

final class Secure {
  /** The user principal a test acts as (its keytab is in the ready line); tokens are fetched as it. */
  static final String USER = "sluice";
  private static final String PASSWORD = "sluice-test";

  private final MiniKdc kdc;
  private final Configuration conf;
  private final File serviceKeytab;
  private final File userKeytab;
  private final File caFile;

  private Secure(MiniKdc kdc, Configuration conf, File serviceKeytab, File userKeytab, File caFile) {
    this.kdc = kdc;
    this.conf = conf;
    this.serviceKeytab = serviceKeytab;
    this.userKeytab = userKeytab;
    this.caFile = caFile;
  }

  String principal(String name) {
    return name + "@" + kdc.getRealm();
  }

  /** Starts the KDC and sets `conf` (and this JVM's login) up for a kerberized, HTTPS-only cluster. */
  static Secure configure(Configuration conf, File dir, File certs) throws Exception {
    Files.createDirectories(dir.toPath());
    Properties kc = MiniKdc.createConf();
    kc.setProperty(MiniKdc.KDC_BIND_ADDRESS, "127.0.0.1");
    // Short, renewable tickets are MiniKdc's default already; the token lifetimes below are what tests vary.
    MiniKdc kdc = new MiniKdc(kc, dir);
    kdc.start(); // also points java.security.krb5.conf at the KDC's krb5.conf, for this JVM's Kerberos
    File serviceKeytab = new File(dir, "hdfs.keytab");
    // HTTP/<host> for both names a client may use in a URL: SPNEGO asks for the principal of the URL's host.
    kdc.createPrincipal(serviceKeytab, "hdfs/localhost", "HTTP/localhost", "HTTP/127.0.0.1");
    File userKeytab = new File(dir, USER + ".keytab");
    kdc.createPrincipal(userKeytab, USER);
    String realm = kdc.getRealm();
    String hdfs = "hdfs/localhost@" + realm;
    String keytab = serviceKeytab.getAbsolutePath();

    conf.set("hadoop.security.authentication", "kerberos");
    conf.setBoolean("hadoop.security.authorization", true);
    conf.set("hadoop.rpc.protection", "authentication");
    conf.set("dfs.namenode.kerberos.principal", hdfs);
    conf.set("dfs.namenode.keytab.file", keytab);
    conf.set("dfs.datanode.kerberos.principal", hdfs);
    conf.set("dfs.datanode.keytab.file", keytab);
    // "*": every HTTP/ principal in the keytab, so SPNEGO works whichever host name the client used.
    conf.set("dfs.web.authentication.kerberos.principal", "*");
    conf.set("dfs.web.authentication.kerberos.keytab", keytab);
    conf.set("dfs.namenode.kerberos.internal.spnego.principal", "HTTP/localhost@" + realm);
    // Kerberos RPC alone leaves the HTTP endpoints on simple auth (user.name trusted as given): SPNEGO on
    // every one of them, anonymous refused. WebHDFS also admits a delegation token in place of SPNEGO.
    conf.set("hadoop.http.filter.initializers", "org.apache.hadoop.security.AuthenticationFilterInitializer");
    conf.set("hadoop.http.authentication.type", "kerberos");
    conf.set("hadoop.http.authentication.kerberos.principal", "*");
    conf.set("hadoop.http.authentication.kerberos.keytab", keytab);
    conf.setBoolean("hadoop.http.authentication.simple.anonymous.allowed", false);
    conf.setBoolean("dfs.block.access.token.enable", true);
    // SASL on the data transfer protocol plus HTTPS only: what lets a secure DataNode run unprivileged.
    conf.set("dfs.data.transfer.protection", "authentication");
    conf.set("dfs.http.policy", "HTTPS_ONLY");
    // Token lifetimes, for the tests of expiry and renewal (defaults: a day and a week, as Hadoop's).
    conf.setLong(
        "dfs.namenode.delegation.token.renew-interval", Long.getLong("sluice.hdfs.tokenRenewIntervalMs", 86_400_000L));
    conf.setLong(
        "dfs.namenode.delegation.token.max-lifetime", Long.getLong("sluice.hdfs.tokenMaxLifetimeMs", 604_800_000L));

    sslConfig(dir, new File(certs, "server.pem"), new File(certs, "server.key"), new File(certs, "ca.pem"));
    UserGroupInformation.setConfiguration(conf);
    UserGroupInformation.loginUserFromKeytab(hdfs, keytab);
    return new Secure(kdc, conf, serviceKeytab, userKeytab, new File(certs, "ca.pem"));
  }

  /**
   * Java keystores from the PEM files, and the ssl-server.xml / ssl-client.xml that name them. Hadoop finds
   * those two by name on the classpath only (Configuration.addResource), so their directory joins it through
   * the context class loader, which every Configuration made afterwards (on any thread started from here) uses.
   */
  private static void sslConfig(File dir, File certPem, File keyPem, File caPem) throws Exception {
    CertificateFactory x509 = CertificateFactory.getInstance("X.509");
    Certificate cert;
    Certificate ca;
    try (InputStream a = new FileInputStream(certPem);
        InputStream b = new FileInputStream(caPem)) {
      cert = x509.generateCertificate(a);
      ca = x509.generateCertificate(b);
    }
    String pem = Files.readString(keyPem.toPath(), StandardCharsets.US_ASCII);
    byte[] der = Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
    PrivateKey key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
    char[] pw = PASSWORD.toCharArray();
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    ks.setKeyEntry("server", key, pw, new Certificate[] {cert, ca});
    File keystore = new File(dir, "keystore.p12");
    try (OutputStream o = new FileOutputStream(keystore)) {
      ks.store(o, pw);
    }
    KeyStore ts = KeyStore.getInstance("PKCS12");
    ts.load(null, null);
    ts.setCertificateEntry("ca", ca);
    File truststore = new File(dir, "truststore.p12");
    try (OutputStream o = new FileOutputStream(truststore)) {
      ts.store(o, pw);
    }
    File xml = new File(dir, "ssl-conf");
    Files.createDirectories(xml.toPath());
    String trust =
        prop("ssl.%s.truststore.location", truststore.getAbsolutePath())
            + prop("ssl.%s.truststore.password", PASSWORD)
            + prop("ssl.%s.truststore.type", "pkcs12");
    String server =
        prop("ssl.server.keystore.location", keystore.getAbsolutePath())
            + prop("ssl.server.keystore.password", PASSWORD)
            + prop("ssl.server.keystore.keypassword", PASSWORD)
            + prop("ssl.server.keystore.type", "pkcs12")
            + trust.replace("%s", "server");
    Files.writeString(new File(xml, "ssl-server.xml").toPath(), configuration(server));
    Files.writeString(new File(xml, "ssl-client.xml").toPath(), configuration(trust.replace("%s", "client")));
    Thread.currentThread()
        .setContextClassLoader(
            new URLClassLoader(new URL[] {xml.toURI().toURL()}, Thread.currentThread().getContextClassLoader()));
  }

  private static String prop(String name, String value) {
    return "<property><name>" + name + "</name><value>" + value + "</value></property>\n";
  }

  private static String configuration(String props) {
    return "<?xml version=\"1.0\"?>\n<configuration>\n" + props + "</configuration>\n";
  }

  private UserGroupInformation user() throws Exception {
    return UserGroupInformation.loginUserFromKeytabAndReturnUGI(principal(USER), userKeytab.getAbsolutePath());
  }

  /** A delegation token owned by the test user, fetched over Kerberized RPC, for `renewer`. */
  Token<?> token(FileSystem fs, String renewer) throws Exception {
    return user()
        .doAs(
            (PrivilegedExceptionAction<Token<?>>)
                () -> {
                  try (FileSystem mine = FileSystem.newInstance(fs.getUri(), conf)) {
                    return mine.getDelegationToken(renewer);
                  }
                });
  }

  /** Renews (as the test user, its renewer) or cancels a token given in URL-safe form; renew answers the new expiry. */
  long renewOrCancel(String encoded, boolean renew) throws Exception {
    Token<?> t = new Token<>();
    t.decodeFromUrlString(encoded);
    return user()
        .doAs(
            (PrivilegedExceptionAction<Long>)
                () -> {
                  if (renew) return t.renew(conf);
                  t.cancel(conf);
                  return 0L;
                });
  }

  /** Status of a GET with SPNEGO as the test user through Hadoop's own client: does SPNEGO admit it. */
  int spnegoGet(String url) throws Exception {
    return user()
        .doAs(
            (PrivilegedExceptionAction<Integer>)
                () -> {
                  URLConnectionFactory f = URLConnectionFactory.newDefaultURLConnectionFactory(conf);
                  HttpURLConnection c = (HttpURLConnection) f.openConnection(new URL(url), true);
                  try {
                    return c.getResponseCode();
                  } finally {
                    c.disconnect();
                    f.destroy();
                  }
                });
  }

  void describe(Map<String, Object> d) {
    d.put(
        "kerberos",
        Json.obj(
            "realm", kdc.getRealm(),
            "kdc", kdc.getHost() + ":" + kdc.getPort(),
            "krb5Conf", kdc.getKrb5conf().getAbsolutePath(),
            "user", principal(USER),
            "userKeytab", userKeytab.getAbsolutePath(),
            "serviceKeytab", serviceKeytab.getAbsolutePath(),
            "caFile", caFile.getAbsolutePath()));
  }

  void close() {
    kdc.stop();
  }
}
