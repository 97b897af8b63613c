// A small blocking HTTP/1.1 client for the tests that drive a server over real sockets (http,
// api, app): one TCP connection, every operation bounded by a timeout so a broken server fails a
// test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace mca::http::test {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

using client_response = bhttp::response<bhttp::string_body>;

struct reply {
  beast::error_code ec;
  client_response res;
};

class client {
 public:
  explicit client(std::uint16_t port,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000))
      : stream_(ioc_), timeout_(timeout) {
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    stream_.expires_after(timeout_);
    stream_.async_connect(ep, [this](beast::error_code ec) { connect_ec_ = ec; });
    run();
  }

  beast::error_code connect_error() const { return connect_ec_; }

  beast::error_code write_raw(std::string data) {
    beast::error_code out = net::error::would_block;
    stream_.expires_after(timeout_);
    net::async_write(stream_, net::buffer(data),
                     [&](beast::error_code ec, std::size_t) { out = ec; });
    run();
    return out;
  }

  beast::error_code write(bhttp::request<bhttp::string_body> req) {
    if (req.find(bhttp::field::host) == req.end()) req.set(bhttp::field::host, "127.0.0.1");
    req.prepare_payload();
    beast::error_code out = net::error::would_block;
    stream_.expires_after(timeout_);
    bhttp::async_write(stream_, req, [&](beast::error_code ec, std::size_t) { out = ec; });
    run();
    return out;
  }

  // Reads one response; `head` tells the parser that no body follows (HEAD request).
  reply read(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    parser.skip(head);
    reply out;
    out.ec = net::error::would_block;
    stream_.expires_after(timeout_);
    bhttp::async_read(stream_, buffer_, parser,
                      [&](beast::error_code ec, std::size_t) { out.ec = ec; });
    run();
    if (!out.ec) out.res = parser.release();
    return out;
  }

  // Reads exactly `n` bytes as they arrived on the wire (an error when fewer come in time).
  std::pair<beast::error_code, std::string> read_raw(std::size_t n) {
    std::string out(n, '\0');
    std::size_t have = std::min(n, buffer_.size());
    net::buffer_copy(net::buffer(out), buffer_.data(), have);
    buffer_.consume(have);
    beast::error_code ec;
    if (have < n) {
      ec = net::error::would_block;
      stream_.expires_after(timeout_);
      net::async_read(stream_, net::buffer(out.data() + have, n - have),
                      [&](beast::error_code e, std::size_t) { ec = e; });
      run();
    }
    return {ec, std::move(out)};
  }

  reply roundtrip(bhttp::request<bhttp::string_body> req) {
    bool head = req.method() == bhttp::verb::head;
    if (auto ec = write(std::move(req))) return reply{ec, {}};
    return read(head);
  }

  // Waits for the server to close the connection: true on EOF or reset, false when data arrives
  // or the timeout passes first.
  // Watches the connection for `d` without reading from it: true when nothing arrived and the
  // server did not close it in that time.
  bool stays_open_for(std::chrono::milliseconds d) {
    if (buffer_.size() > 0) return false;
    bool timer_fired = false;
    net::steady_timer timer(ioc_, d);
    timer.async_wait([&](beast::error_code ec) {
      if (!ec) timer_fired = true;
      stream_.socket().cancel();
    });
    stream_.socket().async_wait(net::socket_base::wait_read, [&](beast::error_code ec) {
      if (!ec) timer.cancel();
    });
    run();
    return timer_fired;
  }

  bool closed_by_peer() {
    char byte;
    beast::error_code out = net::error::would_block;
    if (buffer_.size() > 0) return false;
    stream_.expires_after(timeout_);
    stream_.async_read_some(net::buffer(&byte, 1),
                            [&](beast::error_code ec, std::size_t) { out = ec; });
    run();
    return out == net::error::eof || out == net::error::connection_reset;
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
  beast::error_code connect_ec_;
};

inline bhttp::request<bhttp::string_body> make_request(bhttp::verb method, std::string target,
                                                       std::string body = {}) {
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.body() = std::move(body);
  return req;
}

}  // namespace mca::http::test
