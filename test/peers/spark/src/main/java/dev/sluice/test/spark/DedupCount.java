// A downstream consumer as Sluice's README asks for: Spark Structured Streaming reads the Sluice topic from
// the start, drops at-least-once duplicates by reading id within an event-time watermark, counts what is left
// and writes the figures as one JSON line. Run by test/peers/spark/index.ts in local mode on loopback only.
package dev.sluice.test.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.count_distinct;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.timestamp_millis;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.launcher.JavaModuleOptions;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StateOperatorProgress;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryProgress;
import org.apache.spark.sql.streaming.Trigger;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

public final class DedupCount {
  private DedupCount() {}

  /** The reading as the Kafka sink encodes it (JSON value); only id and ts matter to the job. */
  static final StructType READING =
      new StructType()
          .add("id", DataTypes.StringType)
          .add("gateway", DataTypes.StringType)
          .add("seq", DataTypes.LongType)
          .add("device", DataTypes.StringType)
          .add("metric", DataTypes.StringType)
          .add("value", DataTypes.DoubleType)
          .add("unit", DataTypes.StringType)
          .add("ts", DataTypes.LongType) // epoch milliseconds
          .add("source", DataTypes.StringType);

  public static void main(String[] args) throws Exception {
    if (args.length < 5 || args.length > 6) {
      System.err.println(
          "usage: DedupCount <bootstrap servers> <topic> <output file> <watermark delay, e.g. '10 minutes'>"
              + " <work dir> [max offsets per trigger]");
      System.exit(2);
    }
    String bootstrap = args[0];
    String topic = args[1];
    Path output = Path.of(args[2]);
    String watermark = args[3];
    Path work = Path.of(args[4]);
    // Several micro-batches make a duplicate meet its original in an earlier batch's state, as it does when a
    // gateway resends after a crash; by default AvailableNow reads everything in one batch.
    long maxOffsetsPerTrigger = args.length == 6 ? Long.parseLong(args[5]) : 0;
    warnOnMissingModuleOptions();

    SparkSession spark =
        SparkSession.builder()
            .appName("sluice-dedup-count")
            .master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.warehouse.dir", work.resolve("warehouse").toString())
            .config("spark.sql.shuffle.partitions", "2")
            // The state store keeps nothing worth a background thread in a run of seconds.
            .config("spark.sql.streaming.stateStore.maintenanceInterval", "10min")
            .config("spark.sql.streaming.ui.enabled", "false")
            .getOrCreate();
    spark.sparkContext().setLogLevel("WARN");
    try {
      long started = System.nanoTime();
      var reader =
          spark
              .readStream()
              .format("kafka")
              .option("kafka.bootstrap.servers", bootstrap)
              .option("subscribe", topic)
              .option("startingOffsets", "earliest");
      if (maxOffsetsPerTrigger > 0) reader = reader.option("maxOffsetsPerTrigger", maxOffsetsPerTrigger);
      Dataset<Row> readings = parse(reader.load());

      AtomicLong unique = new AtomicLong();
      VoidFunction2<Dataset<Row>, Long> countBatch = (batch, id) -> unique.addAndGet(batch.count());
      StreamingQuery query =
          readings
              .filter(col("id").isNotNull().and(col("eventTime").isNotNull()))
              .withWatermark("eventTime", watermark)
              .dropDuplicatesWithinWatermark("id")
              .writeStream()
              .option("checkpointLocation", work.resolve("checkpoint").toString())
              .trigger(Trigger.AvailableNow())
              .foreachBatch(countBatch)
              .start();
      query.awaitTermination();

      // Rows read comes from the source's own figures, so it counts duplicates and unparseable values too.
      long read = 0;
      long droppedLate = 0;
      for (StreamingQueryProgress p : query.recentProgress()) {
        read += p.numInputRows();
        for (StateOperatorProgress s : p.stateOperators()) droppedLate += s.numRowsDroppedByWatermark();
      }
      long streamMillis = (System.nanoTime() - started) / 1_000_000;

      // An exact cross-check outside streaming: a batch read of the whole topic.
      Row exact =
          parse(
                  spark
                      .read()
                      .format("kafka")
                      .option("kafka.bootstrap.servers", bootstrap)
                      .option("subscribe", topic)
                      .option("startingOffsets", "earliest")
                      .option("endingOffsets", "latest")
                      .load())
              .agg(count("*"), count_distinct(col("id")), count(col("id")))
              .first();
      long total = exact.getLong(0);
      long distinctIds = exact.getLong(1);
      long malformed = total - exact.getLong(2);

      String line =
          String.format(
              "{\"read\":%d,\"unique\":%d,\"distinctIds\":%d,\"total\":%d,\"malformed\":%d,"
                  + "\"droppedLate\":%d,\"batches\":%d,\"streamMillis\":%d,\"millis\":%d,\"rssPeakBytes\":%d}%n",
              read,
              unique.get(),
              distinctIds,
              total,
              malformed,
              droppedLate,
              query.recentProgress().length,
              streamMillis,
              ManagementFactory.getRuntimeMXBean().getUptime(),
              peakRss());
      // Written whole then renamed, so a reader never sees half a line.
      Path tmp = output.resolveSibling(output.getFileName() + ".tmp");
      Files.writeString(tmp, line, StandardCharsets.UTF_8);
      Files.move(tmp, output, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      spark.stop();
    }
  }

  /** Kafka records to readings with an event time; a value that is not a reading gives a null id. */
  static Dataset<Row> parse(Dataset<Row> records) {
    return records
        .select(from_json(col("value").cast("string"), READING).alias("r"))
        .select(col("r.id").alias("id"), timestamp_millis(col("r.ts")).alias("eventTime"));
  }

  /**
   * The caller copies Spark's --add-opens list (spark-launcher's JavaModuleOptions); say so on stderr when a
   * Spark upgrade added one the caller lacks, rather than fail later in some reflective call.
   */
  static void warnOnMissingModuleOptions() {
    Set<String> given = new HashSet<>(ManagementFactory.getRuntimeMXBean().getInputArguments());
    List<String> missing =
        Arrays.stream(JavaModuleOptions.defaultModuleOptionArray()).filter(o -> !given.contains(o)).toList();
    if (!missing.isEmpty()) System.err.println("DedupCount: JVM options Spark wants but lacks: " + missing);
  }

  /** Peak resident set size of this JVM (VmHWM), or -1 off Linux. */
  static long peakRss() {
    try {
      Matcher m = Pattern.compile("^VmHWM:\\s+(\\d+) kB", Pattern.MULTILINE)
          .matcher(Files.readString(Path.of("/proc/self/status")));
      return m.find() ? Long.parseLong(m.group(1)) * 1024 : -1;
    } catch (IOException e) {
      return -1;
    }
  }
}
