/* A Kafka cluster for tests: librdkafka's mock cluster (rd_kafka_mock_cluster_new), which speaks
 * the Kafka wire protocol on loopback ports. Debian has no Kafka broker; this is the real client
 * library against a real protocol peer.
 *
 *   mock_cluster [BROKERS]     (default 3)
 *
 * Prints the bootstrap servers on its first line of stdout, then reads commands on stdin, one a
 * line, answering "ok" (or "error: ...") to each:
 *   topic NAME PARTITIONS          create a topic (replication factor = the broker count)
 *   down ID / up ID                take broker ID (1..BROKERS) down or back up
 *   leader TOPIC PARTITION ID      make broker ID the partition's leader
 *   produce-errors COUNT CODE      the next COUNT Produce requests fail with Kafka error CODE
 * and exits at end of input.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Kafka protocol's ApiKey of Produce requests (not in librdkafka's public headers). */
#define API_KEY_PRODUCE 0

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 3;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err);              /* no notice about bootstrap.servers */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err); /* hosts the cluster */
    if (rk == NULL) {
        fprintf(stderr, "mock_cluster: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "mock_cluster: cannot start the mock cluster\n");
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char line[512];
    while (fgets(line, sizeof line, stdin) != NULL) {
        char a[256] = "", b[256] = "";
        int x = 0, y = 0;
        rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (sscanf(line, "topic %255s %d", a, &x) == 2) {
            rc = rd_kafka_mock_topic_create(mc, a, x, brokers);
        } else if (sscanf(line, "down %d", &x) == 1) {
            rc = rd_kafka_mock_broker_set_down(mc, x);
        } else if (sscanf(line, "up %d", &x) == 1) {
            rc = rd_kafka_mock_broker_set_up(mc, x);
        } else if (sscanf(line, "leader %255s %d %d", a, &x, &y) == 3) {
            rc = rd_kafka_mock_partition_set_leader(mc, a, x, y);
        } else if (sscanf(line, "produce-errors %d %d", &x, &y) == 2) {
            rd_kafka_resp_err_t *errs = calloc((size_t)x, sizeof *errs);
            for (int i = 0; i < x; i++)
                errs[i] = (rd_kafka_resp_err_t)y;
            rd_kafka_mock_push_request_errors_array(mc, API_KEY_PRODUCE, (size_t)x, errs);
            free(errs);
        } else {
            snprintf(b, sizeof b, "unknown command");
        }
        if (b[0] != '\0')
            printf("error: %s\n", b);
        else if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("error: %s\n", rd_kafka_err2str(rc));
        else
            printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
