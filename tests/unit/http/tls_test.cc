// HTTPS and reload_tls() against real handshakes on 127.0.0.1. The certificates are made by the
// openssl CLI into a temporary directory when the suite starts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "http/errc.h"
#include "http/server.h"

namespace mca::http {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// A CA and two server certificates it signed (CN first / second), in one directory.
class tls_files : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/mca-tls-unit-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto sh = [](const std::string& cmd) {
      return std::system(("cd " + dir_ + " && " + cmd + " >/dev/null 2>&1").c_str());
    };
    ASSERT_EQ(sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=unit-ca "
                 "-keyout ca.key -out ca.pem"),
              0);
    std::ofstream(dir_ + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
    for (std::string name : {"first", "second"}) {
      ASSERT_EQ(sh("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + name +
                   ".key -out " + name + ".csr && openssl x509 -req -in " + name +
                   ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out " +
                   name + ".pem"),
                0);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string path(const std::string& name) { return dir_ + "/" + name; }

  // Installs `name`.pem/.key as the files the server options point at.
  static void install(const std::string& name) {
    fs::copy_file(path(name + ".pem"), path("live.pem"), fs::copy_options::overwrite_existing);
    fs::copy_file(path(name + ".key"), path("live.key"), fs::copy_options::overwrite_existing);
  }

  static server_options options() {
    server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    o.tls.cert_file = path("live.pem");
    o.tls.key_file = path("live.key");
    return o;
  }

  // The common name of the certificate the server presents, after a verified handshake and a
  // GET /hello that must answer 200.
  static std::string served_common_name(std::uint16_t port) {
    net::io_context ioc;
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.load_verify_file(path("ca.pem"));
    ctx.set_verify_mode(net::ssl::verify_peer);
    net::ssl::stream<tcp::socket> s(ioc, ctx);
    s.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    s.handshake(net::ssl::stream_base::client);
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/hello", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(s, req);
    boost::beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 200u);
    X509* cert = SSL_get_peer_certificate(s.native_handle());
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
  }

  static router hello() {
    router r;
    r.add(bhttp::verb::get, "/hello", "hello", [](request&&, const params&, responder respond) {
      response res{bhttp::status::ok, 11};
      res.body() = "hi";
      respond(std::move(res));
    });
    return r;
  }

  // Installs `name` and starts a server over it; TearDown() stops it.
  server& serve(const std::string& name) {
    install(name);
    srv_.emplace(options(), hello());
    srv_->start();
    return *srv_;
  }
  void TearDown() override {
    if (srv_) srv_->stop(std::chrono::seconds(5));
  }

  static inline std::string dir_;
  std::optional<server> srv_;
};

TEST_F(tls_files, serves_https_with_the_configured_certificate) {
  auto& srv = serve("first");
  EXPECT_EQ(served_common_name(srv.port()), "first");
}

TEST_F(tls_files, reload_serves_the_new_certificate_to_new_connections) {
  auto& srv = serve("first");
  ASSERT_EQ(served_common_name(srv.port()), "first");
  install("second");
  ASSERT_TRUE(srv.reload_tls());
  EXPECT_EQ(served_common_name(srv.port()), "second");
}

TEST_F(tls_files, failed_reload_keeps_the_previous_certificate) {
  auto& srv = serve("first");
  // The new certificate with the old key: they do not match.
  fs::copy_file(path("second.pem"), path("live.pem"), fs::copy_options::overwrite_existing);
  auto r = srv.reload_tls();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(errc::bad_tls_files));
  EXPECT_NE(r.error().message.find("live.key"), std::string::npos) << r.error().message;
  EXPECT_EQ(served_common_name(srv.port()), "first");
}

TEST_F(tls_files, start_refuses_a_missing_certificate_file) {
  auto o = options();
  o.tls.cert_file = path("missing.pem");
  server srv(o, hello());
  EXPECT_THROW(srv.start(), std::invalid_argument);
}

TEST_F(tls_files, reload_without_tls_is_an_error) {
  server_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  server srv(o, hello());
  srv.start();
  EXPECT_FALSE(srv.reload_tls());
  srv.stop(std::chrono::seconds(5));
}

}  // namespace
}  // namespace mca::http
