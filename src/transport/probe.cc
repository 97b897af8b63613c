// The transport's self-metrics and health, the same for every implementation of the seam (the
// Kafka-only counters stay 0 on the embedded log). /health lists the producer as "transport" and
// the consumer as "consumer".
#include "transport/transport.h"

namespace mca::transport {

using util::counter_family;
using util::gauge_family;

std::shared_ptr<util::probe> make_probe(producer& p) {
  auto collect = [&p](util::families& f) {
    const auto ps = p.stats();
    f.push_back(gauge_family("mca_transport_queue_depth",
                             "Messages produced and not yet acknowledged",
                             static_cast<double>(ps.queue_depth)));
    f.push_back(gauge_family("mca_transport_queue_capacity",
                             "Messages the transport queue holds at most",
                             static_cast<double>(ps.queue_capacity)));
    f.push_back(counter_family("mca_transport_messages_total",
                               "Messages handed to the transport, by outcome",
                               {{{{"outcome", "delivered"}}, static_cast<double>(ps.sent)},
                                {{{"outcome", "failed"}}, static_cast<double>(ps.failed)}}));
    f.push_back(gauge_family("mca_transport_broker_rtt_seconds",
                             "Mean broker round-trip time from the Kafka client's statistics",
                             ps.broker_rtt_ms / 1000.0));
    f.push_back(counter_family("mca_transport_broker_errors_total",
                               "Broker request transmit and receive errors",
                               static_cast<double>(ps.broker_errors)));
    f.push_back(counter_family("mca_transport_queue_full_total",
                               "Sends refused because the queue was full",
                               static_cast<double>(ps.queue_full)));
  };
  return util::probe_from(collect, "transport", [&p] { return p.health(); });
}

std::shared_ptr<util::probe> make_probe(consumer& c) {
  auto collect = [&c](util::families& f) {
    const auto cs = c.stats();
    f.push_back(gauge_family("mca_consumer_lag",
                             "Records behind the end of the log, over assigned partitions",
                             static_cast<double>(cs.lag)));
    f.push_back(counter_family("mca_consumer_read_errors_total",
                               "Errors reported by the log while reading (logged, then skipped)",
                               static_cast<double>(cs.errors)));
    f.push_back(
        counter_family("mca_consumer_dead_letter_records_total",
                       "Rejected records copied to KAFKA_DLQ_TOPIC, by outcome of the copy",
                       {{{{"outcome", "delivered"}}, static_cast<double>(cs.dead_lettered)},
                        {{{"outcome", "failed"}}, static_cast<double>(cs.dead_letter_failed)}}));
    f.push_back(
        counter_family("mca_changelog_records_total",
                       "Records written to KAFKA_CHANGELOG_TOPIC (aggregate snapshots, tombstones, "
                       "markers), by outcome",
                       {{{{"outcome", "delivered"}}, static_cast<double>(cs.changelog_written)},
                        {{{"outcome", "failed"}}, static_cast<double>(cs.changelog_failed)}}));
    f.push_back(counter_family("mca_changelog_restored_total",
                               "Aggregate states read back from KAFKA_CHANGELOG_TOPIC at "
                               "partition assignment",
                               static_cast<double>(cs.changelog_restored)));
    f.push_back(gauge_family("mca_changelog_last_restore_seconds",
                             "How long the last assignment took to read the changelog and "
                             "restore the aggregates",
                             cs.last_restore_seconds));
    f.push_back(gauge_family("mca_consumer_assigned_partitions",
                             "Partitions assigned to this instance",
                             static_cast<double>(cs.assigned.size())));
  };
  return util::probe_from(collect, "consumer", [&c] { return c.health(); });
}

}  // namespace mca::transport
