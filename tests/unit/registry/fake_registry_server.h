// A tiny blocking HTTP server for the registry client's tests: 127.0.0.1, port 0, one thread per
// connection, answers from a handler the test supplies and remembers every request it saw.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mca::test {

struct seen_request {
  std::string method;
  std::string target;
  std::string body;
  std::string content_type;
  std::string authorization;
};

struct canned_response {
  unsigned status = 200;
  std::string body;
};

class fake_registry_server {
 public:
  using handler = std::function<canned_response(const seen_request&)>;

  explicit fake_registry_server(handler h)
      : handler_(std::move(h)), acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~fake_registry_server() {
    stopping_ = true;
    {
      // Unblocks accept(): a connection it will drop at once.
      boost::asio::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    accept_thread_.join();
    {
      std::lock_guard lk(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // unblocks reads in the workers
    }
    for (auto& t : workers_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  unsigned short port() const { return port_; }

  std::vector<seen_request> requests() const {
    std::lock_guard lk(mu_);
    return seen_;
  }
  std::size_t count(const std::string& target) const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& r : seen_) n += r.target == target ? 1 : 0;
    return n;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      boost::asio::ip::tcp::socket sock(io_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stopping_) return;
      std::lock_guard lk(mu_);
      open_fds_.push_back(sock.native_handle());
      workers_.emplace_back([this, s = std::move(sock)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(boost::asio::ip::tcp::socket sock) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(sock, buf, req, ec);
      if (ec) return;
      seen_request seen{std::string(req.method_string()), std::string(req.target()), req.body(),
                        std::string(req[http::field::content_type]),
                        std::string(req[http::field::authorization])};
      {
        std::lock_guard lk(mu_);
        seen_.push_back(seen);
      }
      auto canned = handler_(seen);
      http::response<http::string_body> res{static_cast<http::status>(canned.status),
                                            req.version()};
      res.set(http::field::content_type, "application/vnd.schemaregistry.v1+json");
      res.body() = canned.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<seen_request> seen_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
};

}  // namespace mca::test
