// Wiring only: configuration -> schema -> registry -> transport -> store -> pipeline -> routes ->
// server; then wait for signals: SIGHUP reloads the API keys file, SIGTERM/SIGINT shut down in
// order (stop accepting, finish in-flight requests, flush the transport, stop the consumer).
// `keys new ...` is a command of its own (app/keys_command.h).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "app/keys_command.h"
#include "app/wiring.h"
#include "config/config.h"
#include "util/log.h"

int main(int argc, char** argv) {
  using namespace mca;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "keys") {
    return app::run_keys_command({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  auto loaded = config::load(config::process_environment(), args);
  if (loaded.cmd.help) {
    std::cout << config::usage();
    return 0;
  }
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::cerr << "configuration error: " << e << "\n";
    return 2;
  }
  const auto& cfg = loaded.cfg;
  if (loaded.cmd.print_config) {
    std::cout << config::describe(cfg);
    return 0;
  }
  for (const auto& [name, value] : loaded.exports) setenv(name.c_str(), value.c_str(), 0);
  util::setup_logging(cfg.log_level, cfg.log_fmt == config::log_format::json
                                         ? util::log_style::json
                                         : util::log_style::text);

  // Block the signals before any thread starts, so only sigwait below sees them (SIGHUP's
  // default action would end the process).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto app = app::build(cfg);
  if (!app) {
    spdlog::critical("cannot start: {}", app.error().message);
    return app.error().code == std::errc::invalid_argument ? 2 : 1;
  }
  if (loaded.cmd.list_routes) {
    for (const auto& r : (*app)->route_table()) std::cout << r << "\n";
    return 0;
  }
  if (auto started = (*app)->start(); !started) {
    spdlog::critical("cannot start: {}", started.error().message);
    return 1;
  }

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    spdlog::info("received SIGHUP, reloading");
    (*app)->reload();
  }
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*app)->stop();
  spdlog::info("stopped");
  return 0;
}
