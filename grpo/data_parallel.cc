#include "grpo/data_parallel.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "policy/torch_status.h"
#include "proto/status_macros.h"

namespace grpo::train {
namespace {

// Runs one collective (or the rendezvous); a failure (a peer that died, a
// timeout) is an Internal status naming `what`.
template <typename Op>
absl::Status Collective(const char* what, Op op) {
  try {
    op();
  } catch (...) {
    return policy::StatusFromCurrentException(absl::StrCat("data parallel ", what));
  }
  return absl::OkStatus();
}

// An integer environment variable; `fallback` when unset.
absl::StatusOr<int> EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  int out = 0;
  if (!absl::SimpleAtoi(value, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "=\"", value,
                                                   "\": expected an integer"));
  }
  return out;
}

bool IsLoopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError("data parallel: cannot open a socket to pick a port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return absl::UnavailableError("data parallel: cannot bind a loopback port");
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::StatusOr<DataParallelOptions> DataParallelFromEnv() {
  DataParallelOptions o;
  const bool has_rank = std::getenv("RANK") != nullptr, has_size = std::getenv("WORLD_SIZE") != nullptr;
  if (has_rank != has_size) {
    return absl::InvalidArgumentError("environment: RANK and WORLD_SIZE go together (set both or neither)");
  }
  absl::StatusOr<int> rank = EnvInt("RANK", 0), size = EnvInt("WORLD_SIZE", 1), port = EnvInt("MASTER_PORT", 29500);
  if (!rank.ok()) return rank.status();
  if (!size.ok()) return size.status();
  if (!port.ok()) return port.status();
  o.rank = *rank;
  o.world_size = *size;
  o.master_port = *port;
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') o.master_addr = addr;
  return o;
}

DataParallel::DataParallel(std::unique_ptr<Impl> impl, int rank, int world_size)
    : impl_(std::move(impl)), rank_(rank), world_size_(world_size) {}

DataParallel::~DataParallel() = default;

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(const DataParallelOptions& options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("data parallel: rank ", options.rank, " of world size ",
                                                   options.world_size, "; expected 0 <= rank < world size"));
  }
  if (options.master_port < 1 || options.master_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("data parallel: master port ", options.master_port,
                                                   "; expected 1-65535"));
  }
  const auto timeout = std::chrono::milliseconds(absl::ToInt64Milliseconds(options.timeout));
  auto impl = std::make_unique<Impl>();
  absl::Status joined = Collective("rendezvous", [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(options.master_port);
    so.isServer = options.rank == 0;
    so.numWorkers = static_cast<std::size_t>(options.world_size);
    so.waitWorkers = false;  // the group's own rendezvous below waits for everyone
    so.timeout = timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, so);
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    // Gloo's transport: GLOO_SOCKET_IFNAME if set; loopback for a one-machine
    // group on 127.0.0.1; else the interface this host's name resolves to.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (IsLoopback(options.master_addr)) {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, options.rank, options.world_size, go);
  });
  if (!joined.ok()) {
    return absl::UnavailableError(absl::StrCat(joined.message(), " (rank ", options.rank, " of ",
                                               options.world_size, ", store ", options.master_addr, ":",
                                               options.master_port, ")"));
  }
  return std::unique_ptr<DataParallel>(new DataParallel(std::move(impl), options.rank, options.world_size));
}

absl::Status DataParallel::AllReduceSum(torch::Tensor& t) {
  return Collective("all-reduce", [&] {
    std::vector<torch::Tensor> tensors{t};
    impl_->group->allreduce(tensors)->wait();
  });
}

absl::Status DataParallel::AllReduceMax(torch::Tensor& t) {
  return Collective("all-reduce max", [&] {
    std::vector<torch::Tensor> tensors{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    impl_->group->allreduce(tensors, o)->wait();
  });
}

absl::Status DataParallel::Broadcast(torch::Tensor& t, int root) {
  return Collective("broadcast", [&] {
    std::vector<torch::Tensor> tensors{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->group->broadcast(tensors, o)->wait();
  });
}

absl::Status DataParallel::AllReduceGradients(const std::vector<torch::Tensor>& params) {
  return Collective("gradient all-reduce", [&] {
    torch::NoGradGuard no_grad;
    // One flat buffer per dtype; a trainable parameter without a gradient on
    // this rank (unused by its rows) adds zeros, so every rank's buffer matches.
    std::map<c10::ScalarType, std::vector<torch::Tensor>> by_dtype;
    for (const torch::Tensor& p : params) {
      if (!p.requires_grad()) continue;
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      by_dtype[p.scalar_type()].push_back(p.grad());
    }
    for (auto& [dtype, grads] : by_dtype) {
      std::vector<torch::Tensor> flat_parts;
      for (const torch::Tensor& g : grads) flat_parts.push_back(g.reshape(-1));
      std::vector<torch::Tensor> tensors{torch::cat(flat_parts)};
      impl_->group->allreduce(tensors)->wait();
      int64_t offset = 0;
      for (torch::Tensor& g : grads) {
        g.copy_(tensors[0].narrow(0, offset, g.numel()).view_as(g));
        offset += g.numel();
      }
    }
  });
}

absl::Status DataParallel::BroadcastParameters(const std::vector<torch::Tensor>& params) {
  return Collective("parameter broadcast", [&] {
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& p : params) {
      std::vector<torch::Tensor> tensors{p};
      impl_->group->broadcast(tensors)->wait();
    }
  });
}

absl::Status DataParallel::Barrier() {
  return Collective("barrier", [&] { impl_->group->barrier()->wait(); });
}

namespace {

absl::Status ReduceValues(DataParallel* dp, std::vector<double>* values, bool max) {
  if (dp == nullptr || values->empty()) return absl::OkStatus();
  torch::Tensor t = torch::tensor(*values, torch::kDouble);
  RETURN_IF_ERROR(max ? dp->AllReduceMax(t) : dp->AllReduceSum(t));
  for (size_t i = 0; i < values->size(); ++i) (*values)[i] = t[static_cast<int64_t>(i)].item<double>();
  return absl::OkStatus();
}

}  // namespace

absl::Status SumOverRanks(DataParallel* dp, std::vector<double>* values) { return ReduceValues(dp, values, false); }

absl::Status MaxOverRanks(DataParallel* dp, std::vector<double>* values) { return ReduceValues(dp, values, true); }

absl::StatusOr<double> CheckInSync(DataParallel* dp, const std::vector<torch::Tensor>& params) {
  double checksum = 0;
  RETURN_IF_ERROR(Collective("sync check", [&] {
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& p : params) checksum += p.to(torch::kDouble).abs().sum().item<double>();
  }));
  std::vector<double> range = {checksum, -checksum};
  RETURN_IF_ERROR(MaxOverRanks(dp, &range));
  if (range[0] != checksum || -range[1] != checksum) {
    return absl::InternalError(absl::StrCat("data-parallel ranks diverged: parameter checksums from ", -range[1],
                                            " to ", range[0]));
  }
  return checksum;
}

absl::StatusOr<torch::Tensor> GatherRows(DataParallel* dp, const torch::Tensor& rows, int64_t* offset) {
  *offset = 0;
  if (dp == nullptr) return rows.to(torch::kDouble);
  std::vector<double> counts(static_cast<size_t>(dp->world_size()), 0.0);
  counts[static_cast<size_t>(dp->rank())] = static_cast<double>(rows.size(0));
  RETURN_IF_ERROR(SumOverRanks(dp, &counts));
  int64_t total = 0;
  for (int r = 0; r < dp->world_size(); ++r) {
    if (r == dp->rank()) *offset = total;
    total += static_cast<int64_t>(counts[static_cast<size_t>(r)]);
  }
  std::vector<int64_t> shape = rows.sizes().vec();
  shape[0] = total;
  torch::Tensor all = torch::zeros(shape, torch::kDouble);  // zeros: the sum is each rank's rows in place
  all.narrow(0, *offset, rows.size(0)).copy_(rows);
  RETURN_IF_ERROR(dp->AllReduceSum(all));
  return all;
}

}  // namespace grpo::train
