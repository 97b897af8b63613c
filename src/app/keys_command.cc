#include "app/keys_command.h"

#include <ostream>
#include <sstream>

#include "auth/new_key.h"

namespace mca::app {
namespace {

constexpr const char* kUsage =
    "usage: metrics-collection-api keys new --id ID --scopes S[,S...] [--apps APP[,APP...]]\n"
    "                                       [--origins URL[,URL...]]\n"
    "  scopes: ingest (POST metrics of the apps), read (GET metrics of the apps),\n"
    "          scrape (/prometheus-metrics), admin (everything)\n";

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace

int run_keys_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "new") {
    err << "keys: unknown command \"" << args[0] << "\"\n" << kUsage;
    return 2;
  }
  auth::key_request req;
  bool have_id = false, have_scopes = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos && flag.rfind("--", 0) == 0) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (flag == "--help" || flag == "-h") {
      out << kUsage;
      return 0;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      err << "keys new: " << flag << " needs a value\n" << kUsage;
      return 2;
    }
    if (flag == "--id") {
      req.id = value;
      have_id = true;
    } else if (flag == "--scopes") {
      req.scopes = split(value);
      have_scopes = true;
    } else if (flag == "--apps") {
      req.apps = split(value);
    } else if (flag == "--origins") {
      req.origins = split(value);
    } else {
      err << "keys new: unknown argument \"" << flag << "\"\n" << kUsage;
      return 2;
    }
  }
  if (!have_id || !have_scopes) {
    err << "keys new: --id and --scopes are required\n" << kUsage;
    return 2;
  }
  auto made = auth::make_key(req);
  if (!made) {
    err << "keys new: " << made.error().message << "\n";
    return 2;
  }
  out << made->key << "\n" << made->entry << "\n";
  err << "The key (first line) is shown only this once: store it where its client reads it.\n"
         "Add the entry (second line) to the \"keys\" array of API_KEYS_FILE, then send SIGHUP.\n";
  return 0;
}

}  // namespace mca::app
