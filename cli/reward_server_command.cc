// `grpo reward-server`: serves the registered reward components over gRPC
// (reward/reward_service.h) until SIGTERM or SIGINT, then drains.
#include <pthread.h>
#include <signal.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/atomic_file.h"
#include "cli/commands.h"
#include "proto/config_io.h"
#include "proto/status_macros.h"
#include "reward/remote_component.h"
#include "reward/reward_plugin.h"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"

namespace grpo::cli {
namespace {

constexpr char kUsage[] = R"(Usage: grpo reward-server [--listen=127.0.0.1:50051] [flags]

Serves the reward components (math_accuracy, format, tag_count, code_tests,
length, repetition, language_consistency, plus --plugin and --remote-reward
ones) over gRPC: RewardService Score, ScoreStream and ListRewards
(proto/reward.proto) and grpc.health.v1. Scoring runs on --threads workers;
a full queue is answered RESOURCE_EXHAUSTED. SIGTERM or SIGINT drains: health
turns NOT_SERVING, new calls are refused, calls in flight get up to
--drain-seconds to finish, then the process exits 0.

It binds loopback by default. Any other address needs TLS (--tls-cert and
--tls-key, plus --tls-client-ca to require client certificates) or a bearer
token (--token-file); without them it refuses to start.

The components' default options come from the reward section of --config
(proto/config.proto RewardConfig) and --set reward.math.X=...; each sample's
params override them. See docs/reward_service.md.

Custom rewards (docs/rewards.md): --plugin=libmy_reward.so loads a shared
library with the C ABI of reward/grpo_reward_plugin.h and serves its
component; with --plugin-isolated each plugin runs in a helper process, so a
plugin that crashes costs error results, not the server.
--remote-reward=NAME=HOST:PORT forwards component NAME to another
RewardService (any language; examples/python_reward).

Flags:
)";

std::vector<FlagDef> Flags() {
  return {
      {"listen", "HOST:PORT", "address to serve on (default 127.0.0.1:50051; port 0 picks one)"},
      {"threads", "N", "scoring workers; 0 = one per core (default 0)"},
      {"queue", "N", "samples queued before RESOURCE_EXHAUSTED; 0 = 1024 per worker"},
      {"config", "FILE", "a text-format config; its reward section sets the defaults"},
      {"set", "a.b.c=VALUE", "override a config field (reward.math.X=...)", true},
      {"sample-timeout-ms", "MS", "a sample's deadline when it sets none (default 10000)"},
      {"max-completion-bytes", "N", "longer completions are invalid_argument (default 1 MiB)"},
      {"max-message-bytes", "N", "largest gRPC message (default 64 MiB)"},
      {"tls-cert", "FILE", "server certificate chain (PEM)"},
      {"tls-key", "FILE", "server private key (PEM)"},
      {"tls-client-ca", "FILE", "CA (PEM) that client certificates must chain to (mTLS)"},
      {"token-file", "FILE", "require \"authorization: Bearer <token>\"; the token is the file's first line"},
      {"ready-file", "FILE", "write HOST:PORT here once serving (for scripts and tests)"},
      {"drain-seconds", "S", "how long in-flight calls may run after SIGTERM (default 30)"},
      {"plugin", "FILE.so", "load a reward plugin (C ABI, reward/grpo_reward_plugin.h)", true},
      {"plugin-isolated", "", "run every plugin in its own helper process, restarted when it dies"},
      {"remote-reward", "NAME=HOST:PORT", "serve component NAME by forwarding to that RewardService", true},
      {"help", "", "show this help"},
  };
}

absl::StatusOr<std::string> ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--", flag, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status ReadInt(const ParsedFlags& flags, const std::string& name, int64_t min, int64_t* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  int64_t v = 0;
  if (!absl::SimpleAtoi(flags.Get(name), &v) || v < min) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " wants a whole number >= ", min,
                                                   ", got \"", flags.Get(name), "\""));
  }
  *out = v;
  return absl::OkStatus();
}

absl::StatusOr<reward::ServerOptions> Options(const ParsedFlags& flags) {
  reward::ServerOptions options;
  options.listen = flags.Get("listen", options.listen);
  int64_t threads = 0, queue = 0, timeout = options.limits.default_timeout_ms;
  int64_t completion = static_cast<int64_t>(options.limits.max_completion_bytes);
  int64_t message = options.max_message_bytes;
  RETURN_IF_ERROR(ReadInt(flags, "threads", 0, &threads));
  RETURN_IF_ERROR(ReadInt(flags, "queue", 0, &queue));
  RETURN_IF_ERROR(ReadInt(flags, "sample-timeout-ms", 1, &timeout));
  RETURN_IF_ERROR(ReadInt(flags, "max-completion-bytes", 1, &completion));
  RETURN_IF_ERROR(ReadInt(flags, "max-message-bytes", 1024, &message));
  if (timeout > options.limits.max_timeout_ms || message > (1 << 30) || threads > 1024) {
    return absl::InvalidArgumentError(
        "--sample-timeout-ms, --max-message-bytes or --threads is too large");
  }
  options.threads = static_cast<int>(threads);
  options.queue_capacity = static_cast<size_t>(queue);
  options.limits.default_timeout_ms = static_cast<int>(timeout);
  options.limits.max_completion_bytes = static_cast<size_t>(completion);
  options.max_message_bytes = static_cast<int>(message);
  for (auto [flag, pem] : {std::pair{"tls-cert", &options.tls_cert_pem},
                           std::pair{"tls-key", &options.tls_key_pem},
                           std::pair{"tls-client-ca", &options.tls_client_ca_pem}}) {
    if (!flags.Has(flag)) continue;
    ASSIGN_OR_RETURN(*pem, ReadFile(flag, flags.Get(flag)));
  }
  if (flags.Has("token-file")) {
    ASSIGN_OR_RETURN(std::string token, ReadFile("token-file", flags.Get("token-file")));
    token = token.substr(0, token.find_first_of("\r\n"));
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--token-file: ", flags.Get("token-file"),
                                                     " holds no token on its first line"));
    }
    options.bearer_token = token;
  }
  return options;
}

// --plugin and --remote-reward, in command-line order per flag.
absl::Status RegisterCustomRewards(const ParsedFlags& flags, reward::ComponentRegistry* registry) {
  reward::PluginOptions plugin_options;
  plugin_options.isolated = flags.GetBool("plugin-isolated");
  for (const std::string& path : flags.GetAll("plugin")) {
    ASSIGN_OR_RETURN(std::unique_ptr<reward::RewardComponent> plugin,
                     reward::LoadPlugin(path, plugin_options));
    if (absl::Status s = registry->Register(std::move(plugin)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--plugin=", path, ": ", s.message()));
    }
  }
  for (const std::string& value : flags.GetAll("remote-reward")) {
    ASSIGN_OR_RETURN(reward::RemoteComponentOptions remote, reward::ParseRemoteReward(value));
    ASSIGN_OR_RETURN(std::unique_ptr<reward::RewardComponent> component,
                     reward::ConnectRemoteComponent(remote));
    if (absl::Status s = registry->Register(std::move(component)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--remote-reward=", value, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

int Fail(const absl::Status& status, int code) {
  std::cerr << "grpo reward-server: " << status.message() << "\n";
  return code;
}

}  // namespace

int RewardServerCommand(const std::vector<std::string>& args) {
  const std::vector<FlagDef> defs = Flags();
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, defs);
  if (!flags.ok()) return Fail(flags.status(), kExitUsage);
  if (flags->GetBool("help")) {
    std::cout << kUsage << FlagHelp(defs);
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    return Fail(absl::InvalidArgumentError(
                    absl::StrCat("unexpected argument \"", flags->positional().front(), "\"")),
                kExitUsage);
  }
  absl::StatusOr<config::Config> config =
      config::LoadConfig(flags->Get("config"), flags->GetAll("set"));
  if (!config.ok()) return Fail(config.status(), kExitUsage);
  absl::StatusOr<reward::ServerOptions> options = Options(*flags);
  if (!options.ok()) return Fail(options.status(), kExitUsage);
  int64_t drain_seconds = 30;
  if (absl::Status s = ReadInt(*flags, "drain-seconds", 0, &drain_seconds); !s.ok()) {
    return Fail(s, kExitUsage);
  }

  reward::ComponentRegistry registry;
  if (absl::Status s = reward::RegisterBuiltinComponents(config->reward(), &registry); !s.ok()) {
    return Fail(s, kExitUsage);
  }
  if (absl::Status s = RegisterCustomRewards(*flags, &registry); !s.ok()) return Fail(s, kExitUsage);

  // Every thread started from here on inherits the blocked signals, so only
  // sigwait below sees SIGTERM / SIGINT.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<reward::RewardServer>> server =
      reward::RewardServer::Start(*options, &registry);
  if (!server.ok()) {
    return Fail(server.status(), server.status().code() == absl::StatusCode::kInvalidArgument
                                     ? kExitUsage
                                     : kExitFailure);
  }
  const std::string host = options->listen.substr(0, options->listen.rfind(':'));
  const std::string address = absl::StrCat(host, ":", (*server)->port());
  std::cerr << "grpo reward-server: serving on " << address << " with " << (*server)->threads()
            << " scoring threads; components: " << registry.Names() << "\n";
  if (flags->Has("ready-file")) {
    AtomicFile ready(flags->Get("ready-file"));
    absl::Status s = ready.Open();
    if (s.ok()) {
      ready.stream() << address << "\n";
      s = ready.Commit();
    }
    if (!s.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      return Fail(s, kExitFailure);
    }
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "grpo reward-server: " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
            << ", draining (up to " << drain_seconds << " s)\n";
  const absl::Time start = absl::Now();
  (*server)->Shutdown(absl::Seconds(drain_seconds));
  std::cerr << "grpo reward-server: drained in " << absl::FormatDuration(absl::Now() - start)
            << ", exiting\n";
  return kExitOk;
}

}  // namespace grpo::cli
