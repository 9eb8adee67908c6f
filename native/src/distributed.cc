// torch.distributed's c10d for data-parallel training: TCPStore / FileStore, ProcessGroupGloo over a store,
// and the collectives training needs (all-reduce, broadcast, all-gather, barrier, a differentiable
// all-reduce for synchronised BatchNorm). Mechanism only: bucketing, averaging policy and rank layout
// live in src/distributed.
//
// Every call blocks the calling thread until the collective finishes or fails; Gloo's own timeout (the
// process group's `timeoutMs`) bounds the wait, so a dead peer surfaces as an error, never a hang.
//
// Errors: every c10d / Gloo failure is thrown as the environment's engine error with a message that starts
// with "[c10d:<kind>] ", kind one of timeout | peer | store | usage | unavailable; src/distributed turns it
// into a DistributedError with that kind. Builds without Gloo's headers (libgloo-dev) keep the entry
// points and throw "[c10d:unavailable]".
#include "common.h"
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#if __has_include(<gloo/context.h>)
#define CS_HAVE_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <gloo/common/error.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/exception.h>
#endif

namespace cs {

#ifdef CS_HAVE_GLOO
namespace {

struct DistError : std::runtime_error {
  DistError(const std::string& kind, const std::string& message) : std::runtime_error("[c10d:" + kind + "] " + message) {}
};

bool mentions(const std::string& text, const char* needle) { return text.find(needle) != std::string::npos; }

// Sorts a failure into a kind from its type first, then from c10d's / Gloo's wording (c10d reports
// several timeouts and connection failures as plain c10::Error).
std::string kindOf(const std::string& message, bool isTimeoutType, bool isIoType) {
  if (isTimeoutType || mentions(message, "imed out") || mentions(message, "imeout")) return "timeout";
  if (isIoType || mentions(message, "onnection") || mentions(message, "closed by peer") || mentions(message, "Broken pipe") ||
      mentions(message, "reset by peer")) {
    return "peer";
  }
  if (mentions(message, "TCPStore") || mentions(message, "socket") || mentions(message, "address") || mentions(message, "Socket")) {
    return "store";
  }
  return "usage";
}

// Runs fn and rethrows any c10d / Gloo exception as a DistError carrying its kind.
template <typename Fn>
auto translate(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const DistError&) {
    throw;
  } catch (const c10d::TimeoutError& error) {
    throw DistError("timeout", error.what());
  } catch (const ::gloo::IoException& error) {
    throw DistError(kindOf(error.what(), false, true), error.what());
  } catch (const ::gloo::Exception& error) {
    throw DistError(kindOf(error.what(), false, false), error.what());
  } catch (const c10::Error& error) {
    std::string message = error.what_without_backtrace();
    throw DistError(kindOf(message, false, false), message);
  } catch (const std::exception& error) {
    throw DistError(kindOf(error.what(), false, false), error.what());
  }
}

constexpr napi_type_tag kStoreTag = {0x636f6e7472617365ULL, 0x672d63313064732dULL};
constexpr napi_type_tag kGroupTag = {0x636f6e7472617365ULL, 0x672d63313064672dULL};

struct StoreHolder {
  c10::intrusive_ptr<c10d::Store> store;
};

// Groups are also kept in a registry by id: the differentiable all-reduce saves the id in its autograd
// context and must find the group again in backward.
struct GroupHolder {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int64_t id = 0;
};

std::mutex registryMutex;
std::map<int64_t, c10::intrusive_ptr<c10d::ProcessGroupGloo>> registry;
int64_t nextGroupId = 1;

c10::intrusive_ptr<c10d::ProcessGroupGloo> groupById(int64_t id) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto found = registry.find(id);
  if (found == registry.end()) {
    throw DistError("usage", "the process group was destroyed; create a new one with initProcessGroup()");
  }
  return found->second;
}

void forget(int64_t id) {
  std::lock_guard<std::mutex> lock(registryMutex);
  registry.erase(id);
}

c10d::Store& storeOf(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<StoreHolder>>().CheckTypeTag(&kStoreTag)) {
    throw Napi::TypeError::New(value.Env(), "expected a c10d store handle (from tcpStore or fileStore)");
  }
  return *value.As<Napi::External<StoreHolder>>().Data()->store;
}

GroupHolder& holderOf(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<GroupHolder>>().CheckTypeTag(&kGroupTag)) {
    throw Napi::TypeError::New(value.Env(), "expected a process group handle (from processGroupGloo)");
  }
  return *value.As<Napi::External<GroupHolder>>().Data();
}

c10::intrusive_ptr<c10d::ProcessGroupGloo> groupOf(const Napi::Value& value) {
  GroupHolder& holder = holderOf(value);
  if (!holder.group) throw DistError("usage", "the process group was destroyed; create a new one with initProcessGroup()");
  return holder.group;
}

Napi::Value wrapStore(Napi::Env env, c10::intrusive_ptr<c10d::Store> store) {
  auto external = Napi::External<StoreHolder>::New(env, new StoreHolder{std::move(store)},
                                                   [](Napi::Env, StoreHolder* holder) { delete holder; });
  external.TypeTag(&kStoreTag);
  return external;
}

std::chrono::milliseconds millis(const Napi::Value& value, const char* what) {
  int64_t ms = toInt(value, what);
  if (ms <= 0) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected a positive number of milliseconds");
  return std::chrono::milliseconds(ms);
}

void waitFor(const c10::intrusive_ptr<c10d::Work>& work) {
  translate([&] { return work->wait(); });
}

c10d::ReduceOp reduceOp(const std::string& name, const Napi::Env& env) {
  if (name == "sum" || name == "avg") return c10d::ReduceOp(c10d::ReduceOp::SUM);
  if (name == "max") return c10d::ReduceOp(c10d::ReduceOp::MAX);
  if (name == "min") return c10d::ReduceOp(c10d::ReduceOp::MIN);
  throw Napi::TypeError::New(env, "allReduce: unknown op '" + name + "'; expected sum, avg, max or min");
}

// Runs one collective on the tensors of one dtype: in place when it is a single contiguous tensor, else
// through one flat buffer (one message instead of one per tensor), copied back afterwards.
template <typename Collective>
void coalesced(std::vector<at::Tensor>& tensors, Collective&& collective) {
  at::NoGradGuard noGrad;
  if (tensors.size() == 1 && tensors[0].is_contiguous()) {
    std::vector<at::Tensor> single{tensors[0]};
    collective(single);
    return;
  }
  std::vector<at::Tensor> flats;
  flats.reserve(tensors.size());
  for (auto& tensor : tensors) flats.push_back(tensor.reshape({-1}));
  std::vector<at::Tensor> buffer{at::cat(flats)};
  collective(buffer);
  int64_t offset = 0;
  for (auto& tensor : tensors) {
    int64_t count = tensor.numel();
    tensor.copy_(buffer[0].narrow(0, offset, count).view(tensor.sizes()));
    offset += count;
  }
}

// Splits handles into lists of one dtype each (in first-seen order), so that each list is one buffer.
std::vector<std::vector<at::Tensor>> byDtype(const Napi::Value& value, const char* what) {
  std::vector<at::Tensor> tensors = toTensorList(value, what);
  std::vector<std::vector<at::Tensor>> groups;
  for (auto& tensor : tensors) {
    if (!tensor.device().is_cpu()) throw DistError("usage", std::string(what) + ": Gloo here takes CPU tensors");
    auto found = std::find_if(groups.begin(), groups.end(), [&](auto& group) { return group[0].scalar_type() == tensor.scalar_type(); });
    if (found == groups.end()) {
      groups.push_back({tensor});
    } else {
      found->push_back(tensor);
    }
  }
  return groups;
}

void allReduceSum(const c10::intrusive_ptr<c10d::ProcessGroupGloo>& group, std::vector<at::Tensor>& tensors) {
  coalesced(tensors, [&](std::vector<at::Tensor>& buffer) { waitFor(group->allreduce(buffer)); });
}

// The sum over ranks whose backward is the same sum of the incoming gradients: with the objective the sum
// of every rank's loss, d(sum_s y_s)/dx_r passes every rank's gradient to x_r.
struct AllReduceSumFn : public torch::autograd::Function<AllReduceSumFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, int64_t groupId) {
    ctx->saved_data["group"] = groupId;
    std::vector<at::Tensor> out{input.detach().clone(at::MemoryFormat::Contiguous)};
    allReduceSum(groupById(groupId), out);
    return out[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    std::vector<at::Tensor> grad{grads[0].detach().clone(at::MemoryFormat::Contiguous)};
    allReduceSum(groupById(ctx->saved_data["group"].toInt()), grad);
    return {grad[0], at::Tensor()};
  }
};

}  // namespace

// tcpStore(host, port, isServer, worldSize, timeoutMs, waitWorkers) -> store. The server (rank 0) binds
// host:port; clients retry connecting until timeoutMs. With waitWorkers the server waits for worldSize
// clients (itself included) before returning.
CS_ENTRY(distTcpStore) {
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int64_t port = toInt(info[1], "port");
  if (port < 0 || port > 65535) throw Napi::TypeError::New(info.Env(), "tcpStore: port must be in 0..65535");
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = toBool(info[2], "isServer");
  options.numWorkers = static_cast<std::size_t>(toInt(info[3], "worldSize"));
  options.timeout = millis(info[4], "timeoutMs");
  options.waitWorkers = toBool(info[5], "waitWorkers");
  return wrapStore(info.Env(), translate([&] { return c10::intrusive_ptr<c10d::Store>(c10::make_intrusive<c10d::TCPStore>(host, options)); }));
}

// fileStore(path, worldSize, timeoutMs) -> store over a file every rank can reach (a shared filesystem).
CS_ENTRY(distFileStore) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int worldSize = static_cast<int>(toInt(info[1], "worldSize"));
  auto timeout = millis(info[2], "timeoutMs");
  auto store = translate([&] { return c10::intrusive_ptr<c10d::Store>(c10::make_intrusive<c10d::FileStore>(path, worldSize)); });
  store->setTimeout(timeout);
  return wrapStore(info.Env(), store);
}

// storeSet(store, key, bytes: Uint8Array)
CS_ENTRY(distStoreSet) {
  auto& store = storeOf(info[0]);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  auto bytes = info[2].As<Napi::Uint8Array>();
  std::vector<uint8_t> value(bytes.Data(), bytes.Data() + bytes.ByteLength());
  translate([&] { store.set(key, value); return 0; });
  return info.Env().Undefined();
}

// storeGet(store, key) -> Uint8Array; waits up to the store's timeout for the key to appear.
CS_ENTRY(distStoreGet) {
  auto& store = storeOf(info[0]);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  std::vector<uint8_t> value = translate([&] { return store.get(key); });
  auto out = Napi::Uint8Array::New(info.Env(), value.size());
  std::copy(value.begin(), value.end(), out.Data());
  return out;
}

// storeAdd(store, key, amount) -> the counter's new value (atomic across ranks).
CS_ENTRY(distStoreAdd) {
  auto& store = storeOf(info[0]);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  int64_t amount = toInt(info[2], "amount");
  return Napi::Number::New(info.Env(), static_cast<double>(translate([&] { return store.add(key, amount); })));
}

// storeWait(store, keys[], timeoutMs): returns once every key exists, throws a timeout error otherwise.
CS_ENTRY(distStoreWait) {
  auto& store = storeOf(info[0]);
  auto array = info[1].As<Napi::Array>();
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < array.Length(); i++) keys.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  auto timeout = millis(info[2], "timeoutMs");
  translate([&] { store.wait(keys, timeout); return 0; });
  return info.Env().Undefined();
}

// processGroupGloo(store, rank, worldSize, timeoutMs, {hostname?, interface?}, threads) -> group. Connects
// every pair of ranks (blocks until all ranks arrive or timeoutMs passes). The device binds `interface`
// (GLOO_SOCKET_IFNAME's role) or `hostname`, else this host's resolved name with a loopback fallback.
CS_ENTRY(distProcessGroupGloo) {
  auto& storeHolder = *info[0].As<Napi::External<StoreHolder>>().Data();
  storeOf(info[0]);
  int rank = static_cast<int>(toInt(info[1], "rank"));
  int size = static_cast<int>(toInt(info[2], "worldSize"));
  auto options = c10d::ProcessGroupGloo::Options::create(millis(info[3], "timeoutMs"));
  Napi::Object where = info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(info.Env());
  options->threads = static_cast<int>(toInt(info[5], "threads"));
  auto group = translate([&] {
    if (where.Has("interface") && where.Get("interface").IsString()) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(where.Get("interface").As<Napi::String>()));
    } else if (where.Has("hostname") && where.Get("hostname").IsString()) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(where.Get("hostname").As<Napi::String>()));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    return c10::make_intrusive<c10d::ProcessGroupGloo>(storeHolder.store, rank, size, options);
  });
  auto* holder = new GroupHolder{group, 0};
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    holder->id = nextGroupId++;
    registry[holder->id] = group;
  }
  auto external = Napi::External<GroupHolder>::New(info.Env(), holder, [](Napi::Env, GroupHolder* dead) {
    forget(dead->id);
    delete dead;
  });
  external.TypeTag(&kGroupTag);
  return external;
}

// destroyProcessGroup(group): closes the connections now (idempotent).
CS_ENTRY(distDestroyProcessGroup) {
  GroupHolder& holder = holderOf(info[0]);
  forget(holder.id);
  holder.group.reset();
  return info.Env().Undefined();
}

// allReduce(group, tensors[], op): in place on every tensor; 'avg' is the sum divided by the world size
// (Gloo has no AVG). Tensors of one dtype travel as one buffer.
CS_ENTRY(distAllReduce) {
  auto group = groupOf(info[0]);
  auto groups = byDtype(info[1], "allReduce tensors");
  std::string name = info[2].As<Napi::String>().Utf8Value();
  c10d::AllreduceOptions options;
  options.reduceOp = reduceOp(name, info.Env());
  for (auto& tensors : groups) {
    coalesced(tensors, [&](std::vector<at::Tensor>& buffer) {
      waitFor(group->allreduce(buffer, options));
      if (name == "avg") buffer[0].div_(group->getSize());
    });
  }
  return info.Env().Undefined();
}

// broadcast(group, tensors[], root): every rank's tensors become root's, in place.
CS_ENTRY(distBroadcast) {
  auto group = groupOf(info[0]);
  auto groups = byDtype(info[1], "broadcast tensors");
  c10d::BroadcastOptions options;
  options.rootRank = static_cast<int64_t>(toInt(info[2], "root"));
  for (auto& tensors : groups) {
    coalesced(tensors, [&](std::vector<at::Tensor>& buffer) { waitFor(group->broadcast(buffer, options)); });
  }
  return info.Env().Undefined();
}

// allGather(group, tensor) -> [worldSize handles]: every rank's tensor (same shape and dtype on all ranks).
CS_ENTRY(distAllGather) {
  auto group = groupOf(info[0]);
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> inputs{unwrapTensor(info[1], "allGather tensor").contiguous()};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int rank = 0; rank < group->getSize(); rank++) outputs[0].push_back(at::empty_like(inputs[0]));
  waitFor(group->allgather(outputs, inputs));
  Napi::Array result = Napi::Array::New(info.Env(), outputs[0].size());
  for (uint32_t i = 0; i < outputs[0].size(); i++) result.Set(i, wrapTensor(info.Env(), outputs[0][i]));
  return result;
}

// barrier(group): returns once every rank has called it.
CS_ENTRY(distBarrier) {
  auto group = groupOf(info[0]);
  waitFor(group->barrier());
  return info.Env().Undefined();
}

// allReduceSumAutograd(group, tensor) -> new tensor: the sum over ranks, differentiable (backward sums the
// gradients over ranks too). For statistics computed across ranks, e.g. synchronised BatchNorm.
CS_ENTRY(distAllReduceSumAutograd) {
  GroupHolder& holder = holderOf(info[0]);
  groupOf(info[0]);
  const at::Tensor& input = unwrapTensor(info[1], "allReduceSumAutograd tensor");
  return wrapTensor(info.Env(), AllReduceSumFn::apply(input, holder.id));
}

// groupInfo(group) -> { rank, worldSize }
CS_ENTRY(distGroupInfo) {
  auto group = groupOf(info[0]);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("rank", Napi::Number::New(info.Env(), group->getRank()));
  out.Set("worldSize", Napi::Number::New(info.Env(), group->getSize()));
  return out;
}

CS_ENTRY(distAvailable) { return Napi::Boolean::New(info.Env(), true); }

#else  // no Gloo headers at build time

CS_ENTRY(distUnavailable) {
  throw makeError(info.Env(), "[c10d:unavailable] the addon was built without Gloo's headers; install libgloo-dev "
                              "(Debian) and rebuild with `npm run build:native` to use distributed training");
}
CS_ENTRY(distAvailable) { return Napi::Boolean::New(info.Env(), false); }

#endif

// Errors from the entry points above arrive through cs::guard; translate() already put the kind prefix on
// every c10d / Gloo failure.
void registerDistributed(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, distAvailable);
#ifdef CS_HAVE_GLOO
  CS_EXPORT(env, exports, distTcpStore);
  CS_EXPORT(env, exports, distFileStore);
  CS_EXPORT(env, exports, distStoreSet);
  CS_EXPORT(env, exports, distStoreGet);
  CS_EXPORT(env, exports, distStoreAdd);
  CS_EXPORT(env, exports, distStoreWait);
  CS_EXPORT(env, exports, distProcessGroupGloo);
  CS_EXPORT(env, exports, distDestroyProcessGroup);
  CS_EXPORT(env, exports, distAllReduce);
  CS_EXPORT(env, exports, distBroadcast);
  CS_EXPORT(env, exports, distAllGather);
  CS_EXPORT(env, exports, distBarrier);
  CS_EXPORT(env, exports, distAllReduceSumAutograd);
  CS_EXPORT(env, exports, distGroupInfo);
#else
  for (const char* name : {"distTcpStore", "distFileStore", "distStoreSet", "distStoreGet", "distStoreAdd", "distStoreWait",
                           "distProcessGroupGloo", "distDestroyProcessGroup", "distAllReduce", "distBroadcast",
                           "distAllGather", "distBarrier", "distAllReduceSumAutograd", "distGroupInfo"}) {
    registerFunction(env, exports, name, distUnavailable);
  }
#endif
}

}  // namespace cs
