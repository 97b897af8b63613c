// The byte stream of one connection: plain TCP or TLS over TCP, chosen per connection at accept.
// Internal to the http module. It is an Asio AsyncReadStream/AsyncWriteStream, so Beast's
// parser and serializer run on it unchanged, and one session type serves both: the session only
// moves bytes, and where they are encrypted is this class's business.
//
// Not thread-safe: used from the session's strand only.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace mca::http::detail {

class stream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  // Plain HTTP.
  explicit stream(boost::asio::ip::tcp::socket&& socket) : plain_(std::move(socket)) {}
  // HTTPS: `ctx` is kept alive as long as the connection (a reload swaps the server's context,
  // not this one).
  stream(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<boost::asio::ssl::context> ctx)
      : ctx_(std::move(ctx)) {
    tls_.emplace(std::move(socket), *ctx_);
  }

  bool is_tls() const { return tls_.has_value(); }
  executor_type get_executor() { return tcp().get_executor(); }

  // The TCP layer: timeouts (expires_after / expires_never), the socket, close.
  boost::beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }

  template <class Handler>
  void async_handshake(Handler&& h) {
    tls_->async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(h));
  }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& h) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(h));
    } else {
      plain_->async_read_some(buffers, std::forward<Handler>(h));
    }
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& h) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(h));
    } else {
      plain_->async_write_some(buffers, std::forward<Handler>(h));
    }
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
};

}  // namespace mca::http::detail
