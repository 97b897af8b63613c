// The embedded transport: a bounded in-process log with one partition (0), behind the same
// producer/consumer interfaces as Kafka. It is the default when no Kafka is configured, so a bare
// machine runs the whole API through the same codec, consumer and store code.
//
// A send is acknowledged once the whole batch is appended (all or nothing); when appending would
// exceed `capacity` records not yet consumed, the batch is refused with errc::queue_full
// (back-pressure: the API answers 503 + Retry-After). Records live in memory only: they do not
// survive a restart, which is what Kafka is for.
//
// Thread-safe. The producer's callback runs on the calling thread, before send() returns. The
// consumer thread is woken once per gathered batch, not per append: after an idle spell it
// gathers for up to 0.5 ms (or until 512 records wait) before applying, so a record reaches the
// consumer at most that much later than it would otherwise.
//
// Records are moved, never copied, from the producer's batch to the handler, and once the handler
// is done with them their messages are emptied and handed back through spare_messages() (at most
// 1,024, only strings of at most 512 bytes): a producer that writes its keys and frames into them
// allocates nothing per record in the steady state.
#pragma once

#include <cstddef>
#include <memory>

#include "transport/transport.h"

namespace mca::transport::embedded {

struct transport_pair {
  std::unique_ptr<producer> prod;
  std::unique_ptr<consumer> cons;
};

// Creates a log holding at most `capacity` unconsumed records, and its producer and consumer.
transport_pair make_embedded_transport(std::size_t capacity);

}  // namespace mca::transport::embedded
