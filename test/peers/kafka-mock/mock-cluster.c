/*
 * Kafka test peer: a librdkafka mock cluster (a real Kafka-protocol cluster
 * with fault injection) driven by line commands on stdin, so TypeScript tests
 * can break brokers on cue. Protocol and usage: see index.ts next to this file.
 *
 *   mock-cluster <broker_count> [topic:partitions[:replication]]...
 *
 * stdout: "BOOTSTRAP host:port,..." once, then one "OK ..." or "ERR ..." per
 * command line. librdkafka's own logs go to stderr so they never mix with
 * replies.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 4096
#define MAX_ARGS 64

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Kafka protocol ApiKeys (KIP numbering, kafka.apache.org/protocol#protocol_api_keys).
 * librdkafka keeps its own table in a private header, so the few a test may
 * want to fail are listed here; any other key can be given as a number. */
static const struct {
  const char *name;
  int16_t key;
} api_keys[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},     {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},     {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},     {"SyncGroup", 14},      {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24}, {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static void reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  /* The wrapper awaits each reply; a buffered one would hang the test. */
  fflush(stdout);
}

static int parse_int(const char *s, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_api_key(const char *s, int16_t *out) {
  long v;
  for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
    if (strcasecmp(s, api_keys[i].name) == 0) {
      *out = api_keys[i].key;
      return 0;
    }
  }
  if (parse_int(s, 0, INT16_MAX, &v) != 0) return -1;
  *out = (int16_t)v;
  return 0;
}

/* Accepts NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
 * _TRANSPORT (librdkafka's local codes keep their underscore) or a number.
 * librdkafka's own table is used so every code it knows is reachable. */
static int parse_error(const char *s, rd_kafka_resp_err_t *out) {
  const struct rd_kafka_err_desc *descs;
  size_t cnt;
  long v;
  const char *prefix = "RD_KAFKA_RESP_ERR_";
  if (strncasecmp(s, prefix, strlen(prefix)) == 0) s += strlen(prefix);
  rd_kafka_get_err_descs(&descs, &cnt);
  for (size_t i = 0; i < cnt; i++) {
    if (descs[i].name != NULL && strcasecmp(s, descs[i].name) == 0) {
      *out = descs[i].code;
      return 0;
    }
  }
  if (parse_int(s, -200, 1000, &v) != 0) return -1;
  *out = (rd_kafka_resp_err_t)v;
  return 0;
}

/* Turns an rd_kafka_resp_err_t from the mock API into a reply. */
static void reply_result(rd_kafka_resp_err_t err, const char *what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    reply("OK %s", what);
  else
    reply("ERR %s: %s", what, rd_kafka_err2name(err));
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *name, long parts, long repl) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, (int)parts, (int)repl);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fprintf(stderr, "mock-cluster: topic %s: %s\n", name, rd_kafka_err2name(err));
    return -1;
  }
  return 0;
}

/* Executes one command line; returns 1 when the peer should exit. */
static int run_command(rd_kafka_mock_cluster_t *mc, char *line, int brokers) {
  char *argv[MAX_ARGS];
  int argc = 0;
  char *save = NULL;
  long a, b;
  for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL && argc < MAX_ARGS;
       tok = strtok_r(NULL, " \t\r", &save))
    argv[argc++] = tok;
  if (argc == 0) {
    reply("ERR empty command");
    return 0;
  }
  const char *cmd = argv[0];

  if (strcmp(cmd, "quit") == 0) {
    reply("OK quit");
    return 1;
  }
  if ((strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) && argc == 2) {
    /* -1 addresses every broker, as the mock API allows. */
    if (parse_int(argv[1], -1, brokers, &a) != 0 || a == 0) {
      reply("ERR %s: bad broker id %s", cmd, argv[1]);
      return 0;
    }
    reply_result(cmd[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)a)
                               : rd_kafka_mock_broker_set_up(mc, (int32_t)a),
                 cmd);
    return 0;
  }
  if (strcmp(cmd, "rtt") == 0 && argc == 3) {
    if (parse_int(argv[1], -1, brokers, &a) != 0 || a == 0 || parse_int(argv[2], 0, 600000, &b) != 0) {
      reply("ERR rtt: usage rtt <broker_id|-1> <ms>");
      return 0;
    }
    reply_result(rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b), "rtt");
    return 0;
  }
  if (strcmp(cmd, "push_errors") == 0 && argc >= 4) {
    int16_t key;
    rd_kafka_resp_err_t errs[MAX_ARGS];
    int given = argc - 3;
    if (parse_api_key(argv[1], &key) != 0 || parse_int(argv[2], 1, MAX_ARGS, &a) != 0) {
      reply("ERR push_errors: usage push_errors <ApiKey> <count> <error>...");
      return 0;
    }
    /* One code with a count repeats it ("Produce 3 NOT_LEADER_FOR_PARTITION");
     * otherwise the count must match the codes, to catch typos in scripts. */
    if (given != 1 && given != a) {
      reply("ERR push_errors: count %ld but %d error codes", a, given);
      return 0;
    }
    for (int i = 0; i < a; i++) {
      const char *code = argv[3 + (given == 1 ? 0 : i)];
      if (parse_error(code, &errs[i]) != 0) {
        reply("ERR push_errors: unknown error code %s", code);
        return 0;
      }
    }
    rd_kafka_mock_push_request_errors_array(mc, key, (size_t)a, errs);
    reply("OK push_errors %d %ld", key, a);
    return 0;
  }
  if (strcmp(cmd, "push_broker_errors") == 0 && argc >= 5) {
    /* Broker-level stack: unlike the cluster-level one it can be counted (broker_errors_left),
     * so a test can prove its client really hit every injected error. */
    int16_t key;
    int given = argc - 4;
    if (parse_int(argv[1], 1, brokers, &a) != 0 || parse_api_key(argv[2], &key) != 0 ||
        parse_int(argv[3], 1, MAX_ARGS, &b) != 0 || (given != 1 && given != b)) {
      reply("ERR push_broker_errors: usage push_broker_errors <broker_id> <ApiKey> <count> <error[@rtt_ms]>...");
      return 0;
    }
    rd_kafka_resp_err_t errs[MAX_ARGS];
    long rtts[MAX_ARGS];
    for (int i = 0; i < b; i++) {
      char spec[128];
      snprintf(spec, sizeof(spec), "%s", argv[4 + (given == 1 ? 0 : i)]);
      char *at = strchr(spec, '@');
      rtts[i] = 0;
      if (at != NULL) *at = '\0';
      if (parse_error(spec, &errs[i]) != 0 || (at != NULL && parse_int(at + 1, 0, 600000, &rtts[i]) != 0)) {
        reply("ERR push_broker_errors: bad error spec %s", argv[4 + (given == 1 ? 0 : i)]);
        return 0;
      }
    }
    /* The API is variadic only; one call per entry appends in order to the same stack. */
    for (int i = 0; i < b; i++) {
      rd_kafka_resp_err_t err =
          rd_kafka_mock_broker_push_request_error_rtts(mc, (int32_t)a, key, 1, errs[i], (int)rtts[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        reply_result(err, "push_broker_errors");
        return 0;
      }
    }
    reply("OK push_broker_errors %ld %d %ld", a, key, b);
    return 0;
  }
  if (strcmp(cmd, "broker_errors_left") == 0 && argc == 3) {
    int16_t key;
    size_t left = 0;
    if (parse_int(argv[1], 1, brokers, &a) != 0 || parse_api_key(argv[2], &key) != 0) {
      reply("ERR broker_errors_left: usage broker_errors_left <broker_id> <ApiKey>");
      return 0;
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_broker_error_stack_cnt(mc, (int32_t)a, key, &left);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      reply_result(err, "broker_errors_left");
    else
      reply("OK broker_errors_left %zu", left);
    return 0;
  }
  if (strcmp(cmd, "clear_errors") == 0 && argc == 2) {
    int16_t key;
    if (parse_api_key(argv[1], &key) != 0) {
      reply("ERR clear_errors: unknown ApiKey %s", argv[1]);
      return 0;
    }
    rd_kafka_mock_clear_request_errors(mc, key);
    reply("OK clear_errors %d", key);
    return 0;
  }
  if (strcmp(cmd, "topic") == 0 && argc == 4) {
    if (parse_int(argv[2], 1, 100000, &a) != 0 || parse_int(argv[3], 1, brokers, &b) != 0) {
      reply("ERR topic: usage topic <name> <partitions> <replication<=%d>", brokers);
      return 0;
    }
    reply_result(rd_kafka_mock_topic_create(mc, argv[1], (int)a, (int)b), "topic");
    return 0;
  }
  if (strcmp(cmd, "leader") == 0 && argc == 4) {
    /* -1 makes the partition leaderless, which the mock API supports. */
    if (parse_int(argv[2], 0, 100000, &a) != 0 || parse_int(argv[3], -1, brokers, &b) != 0 || b == 0) {
      reply("ERR leader: usage leader <topic> <partition> <broker_id|-1>");
      return 0;
    }
    reply_result(rd_kafka_mock_partition_set_leader(mc, argv[1], (int32_t)a, (int32_t)b), "leader");
    return 0;
  }
  reply("ERR unknown command or wrong arguments: %s", cmd);
  return 0;
}

/* Reads stdin with poll() so SIGTERM is noticed within a tick even while idle. */
static void command_loop(rd_kafka_mock_cluster_t *mc, int brokers) {
  char buf[MAX_LINE];
  size_t len = 0;
  while (!stop_requested) {
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int rc = poll(&pfd, 1, 200);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      perror("mock-cluster: poll");
      return;
    }
    if (rc == 0) continue;
    ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; /* EOF: the test process is gone; do not outlive it. */
    len += (size_t)n;
    char *nl;
    while ((nl = memchr(buf, '\n', len)) != NULL) {
      *nl = '\0';
      int quit = run_command(mc, buf, brokers);
      size_t used = (size_t)(nl - buf) + 1;
      memmove(buf, nl + 1, len - used);
      len -= used;
      if (quit) return;
    }
    if (len == sizeof(buf) - 1) {
      reply("ERR line too long");
      len = 0;
    }
  }
}

int main(int argc, char **argv) {
  char errstr[512];
  long brokers;
  if (argc < 2 || parse_int(argv[1], 1, 64, &brokers) != 0) {
    fprintf(stderr, "usage: %s <broker_count> [topic:partitions[:replication]]...\n", argv[0]);
    return 2;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* A reply to a closed stdout must not kill us before cleanup. */
  signal(SIGPIPE, SIG_IGN);

  /* The mock cluster needs a host handle for bookkeeping only. It gets no
   * bootstrap.servers, so it never connects anywhere itself. */
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "mock-cluster: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == NULL) {
    fprintf(stderr, "mock-cluster: rd_kafka_new: %s\n", errstr);
    return 1;
  }
  /* Brokers listen on 127.0.0.1 with kernel-assigned ports (librdkafka binds
   * INADDR_LOOPBACK, port 0) and advertise that address in Metadata, so
   * parallel test files never collide and nothing is reachable off-host. */
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)brokers);
  if (mc == NULL) {
    fprintf(stderr, "mock-cluster: rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }

  int status = 0;
  for (int i = 2; i < argc; i++) {
    char spec[512];
    long parts = 1, repl = 1;
    snprintf(spec, sizeof(spec), "%s", argv[i]);
    char *p = strchr(spec, ':');
    char *r = p != NULL ? strchr(p + 1, ':') : NULL;
    if (p != NULL) *p = '\0';
    if (r != NULL) *r = '\0';
    if ((p != NULL && parse_int(p + 1, 1, 100000, &parts) != 0) ||
        (r != NULL && parse_int(r + 1, 1, brokers, &repl) != 0) || create_topic(mc, spec, parts, repl) != 0) {
      fprintf(stderr, "mock-cluster: bad topic spec %s\n", argv[i]);
      status = 2;
      break;
    }
  }

  if (status == 0) {
    reply("BOOTSTRAP %s", rd_kafka_mock_cluster_bootstraps(mc));
    command_loop(mc, (int)brokers);
  }

  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return status;
}
