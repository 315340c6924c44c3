// Spark as the batch reader of what Sluice's HDFS sink wrote: reads the final directory over hdfs:// from the
// real NameNode (parquet, avro or json), counts rows and distinct reading ids, and reports the schema Spark
// sees and, for Parquet, the schema in a file's own footer (parquet-hadoop, the reference implementation).
// Run by test/peers/spark/index.ts (runSparkHdfsCount) in local mode on loopback only.
package dev.sluice.test.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.count_distinct;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.unix_millis;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

public final class HdfsCount {
  private HdfsCount() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: HdfsCount <hdfs://host:port/dir> <parquet|avro|json> <output file> <work dir>");
      System.exit(2);
    }
    String dir = args[0];
    String format = args[1];
    Path output = Path.of(args[2]);
    Path work = Path.of(args[3]);
    DedupCount.warnOnMissingModuleOptions();

    SparkSession spark =
        SparkSession.builder()
            .appName("sluice-hdfs-count")
            .master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.warehouse.dir", work.resolve("warehouse").toString())
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate();
    spark.sparkContext().setLogLevel("WARN");
    try {
      // Time-bucketed subdirectories are not partitions: read every file below. Spark skips names starting
      // with _ or . on its own, so the sink's state directory (_sluice) and staged files (_00000...) stay out.
      Dataset<Row> rows =
          spark.read().format(format).option("recursiveFileLookup", "true").load(dir);
      String schemaJson = rows.schema().json();
      Row agg =
          rows.agg(
                  count("*"),
                  count_distinct(col("id")),
                  min(col("seq")),
                  max(col("seq")),
                  sum(col("seq")),
                  count(col("value")),
                  format.equals("json") ? count(col("id")) : count(col("value_json")),
                  format.equals("json") ? min(col("ts")) : min(unix_millis(col("ts"))))
              .first();

      ObjectMapper json = new ObjectMapper();
      ObjectNode out = json.createObjectNode();
      out.put("rows", agg.getLong(0));
      out.put("distinctIds", agg.getLong(1));
      out.put("minSeq", agg.isNullAt(2) ? -1 : agg.getLong(2));
      out.put("maxSeq", agg.isNullAt(3) ? -1 : agg.getLong(3));
      out.put("sumSeq", agg.isNullAt(4) ? -1 : agg.getLong(4));
      out.put("numericValues", agg.getLong(5));
      out.put("jsonValues", agg.getLong(6));
      out.put("minTsMillis", agg.isNullAt(7) ? -1 : agg.getLong(7));
      out.set("sparkSchema", json.readTree(schemaJson));
      out.put("files", dataFiles(spark, dir));
      if (format.equals("parquet")) out.put("parquetSchema", footerSchema(spark, dir));
      out.put("millis", ManagementFactory.getRuntimeMXBean().getUptime());
      out.put("rssPeakBytes", DedupCount.peakRss());
      // Written whole then renamed, so a reader never sees half a line.
      Path tmp = output.resolveSibling(output.getFileName() + ".tmp");
      Files.writeString(tmp, json.writeValueAsString(out) + "\n", StandardCharsets.UTF_8);
      Files.move(tmp, output, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      spark.stop();
    }
  }

  /** Data files below `dir` as Spark counts them: names starting with _ or . left out at every level. */
  static int dataFiles(SparkSession spark, String dir) throws Exception {
    int n = 0;
    for (FileStatus f : listData(spark, dir)) if (f.isFile()) n++;
    return n;
  }

  /** The footer schema of the first data file, as parquet-hadoop prints it (logical types included). */
  static String footerSchema(SparkSession spark, String dir) throws Exception {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    for (FileStatus f : listData(spark, dir)) {
      try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromStatus(f, conf))) {
        return r.getFileMetaData().getSchema().toString();
      }
    }
    return "";
  }

  static List<FileStatus> listData(SparkSession spark, String dir) throws Exception {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir);
    FileSystem fs = root.getFileSystem(conf);
    List<FileStatus> out = new ArrayList<>();
    walk(fs, root, out);
    out.sort((a, b) -> a.getPath().toString().compareTo(b.getPath().toString()));
    return out;
  }

  private static void walk(FileSystem fs, org.apache.hadoop.fs.Path dir, List<FileStatus> out)
      throws Exception {
    RemoteIterator<LocatedFileStatus> it = fs.listLocatedStatus(dir);
    while (it.hasNext()) {
      FileStatus s = it.next();
      String name = s.getPath().getName();
      if (name.startsWith("_") || name.startsWith(".")) continue;
      if (s.isDirectory()) walk(fs, s.getPath(), out);
      else out.add(s);
    }
  }
}
