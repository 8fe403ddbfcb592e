// fedct's native CPU kernels: 2-D and 3-D convolutions (forward, backward data, backward weights)
// on oneDNN, for tensors that live in the TensorFlow.js wasm backend's heap.
// One translation unit on purpose (over 400 lines): every kernel shares the heap access, the
// primitive cache and the layout reorders below, and node-gyp builds it as a single object.
//
// The JavaScript side (libs/pipeline/src/backend/native-kernels.ts) passes the wasm heap's
// ArrayBuffer and byte offsets of the tensors in it, so nothing is copied between JavaScript and
// this addon: oneDNN reads the inputs and writes the output in place (through a reorder to and from
// its preferred blocked layout where it picks one). Tensors are channels last as in TensorFlow.js:
// data N(D)HWC, filters (D)HWIO.
//
// Primitives are cached per problem (the networks use a fixed set of shapes); the cache belongs to
// one JavaScript context (a worker thread has its own).

#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using tag = dnnl::memory::format_tag;

enum Op : int32_t { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

// Activation codes of the fused forward convolution (TensorFlow.js FusedConv2D).
enum Activation : int32_t { kLinear = 0, kRelu = 1, kLeakyRelu = 2, kSigmoid = 3, kRelu6 = 4, kElu = 5 };

// Geometry of one convolution, in the order the JavaScript side writes it (Int32Array of kParams).
// rank 2 or 3; spatial arrays are [depth, height, width] with depth unused (1 / 0) for rank 2.
struct Geometry {
  int32_t rank, n, ci, co;
  int32_t in[3], k[3], out[3], stride[3], dilation[3], padL[3], padR[3];
};
constexpr size_t kParams = 4 + 7 * 3;

// One argument of a primitive: the caller's memory (a view of the wasm heap) and, where oneDNN
// chose another layout, its own buffer and the reorder between the two.
struct Arg {
  memory user;
  memory inner;
  bool reordered = false;
  dnnl::reorder toInner;  // inputs
  dnnl::reorder toUser;   // the output
};

struct Entry {
  dnnl::primitive prim;
  Arg a, b, c;  // fwd: src, weights, dst; bwd data: diff_dst, weights, diff_src; bwd weights: src, diff_dst, diff_weights
  memory bias;  // fwd with bias only
  bool hasBias = false;
  int argA = 0, argB = 0, argC = 0;
};

struct State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::unordered_map<std::string, std::unique_ptr<Entry>> cache;
};

memory::dims dataDims(const Geometry& g, const int32_t* spatial, int32_t channels) {
  if (g.rank == 2) return {g.n, channels, spatial[1], spatial[2]};
  return {g.n, channels, spatial[0], spatial[1], spatial[2]};
}

memory::dims weightDims(const Geometry& g) {
  if (g.rank == 2) return {g.co, g.ci, g.k[1], g.k[2]};
  return {g.co, g.ci, g.k[0], g.k[1], g.k[2]};
}

memory::dims spatialDims(const Geometry& g, const int32_t* v, int32_t minus) {
  if (g.rank == 2) return {v[1] - minus, v[2] - minus};
  return {v[0] - minus, v[1] - minus, v[2] - minus};
}

tag dataTag(const Geometry& g) { return g.rank == 2 ? tag::nhwc : tag::ndhwc; }
tag weightTag(const Geometry& g) { return g.rank == 2 ? tag::hwio : tag::dhwio; }

memory::desc anyDesc(const memory::dims& dims) { return memory::desc(dims, memory::data_type::f32, tag::any); }

// Sets up one argument: `user` is the caller's layout; `want` is what the primitive chose.
void prepare(State& s, Arg& arg, const memory::desc& userDesc, const memory::desc& want, bool input) {
  arg.user = memory(userDesc, s.engine, DNNL_MEMORY_NONE);
  if (want == userDesc) return;
  arg.reordered = true;
  arg.inner = memory(want, s.engine);
  if (input) arg.toInner = dnnl::reorder(arg.user, arg.inner);
  else arg.toUser = dnnl::reorder(arg.inner, arg.user);
}

dnnl::primitive_attr activationAttr(int32_t activation, float alpha) {
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  switch (activation) {
    case kRelu: ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
    case kLeakyRelu: ops.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
    case kSigmoid: ops.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
    case kRelu6: ops.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
    case kElu: ops.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
    default: break;
  }
  attr.set_post_ops(ops);
  return attr;
}

std::unique_ptr<Entry> build(State& s, int32_t op, const Geometry& g, bool hasBias, int32_t activation, float alpha) {
  auto e = std::make_unique<Entry>();
  const memory::dims src = dataDims(g, g.in, g.ci), dst = dataDims(g, g.out, g.co), wei = weightDims(g);
  const memory::dims strides = spatialDims(g, g.stride, 0), dilates = spatialDims(g, g.dilation, 1);
  const memory::dims padL = spatialDims(g, g.padL, 0), padR = spatialDims(g, g.padR, 0);
  const memory::desc srcUser(src, memory::data_type::f32, dataTag(g));
  const memory::desc dstUser(dst, memory::data_type::f32, dataTag(g));
  const memory::desc weiUser(wei, memory::data_type::f32, weightTag(g));
  const memory::desc biasDesc({g.co}, memory::data_type::f32, tag::x);

  // The forward descriptor is also the hint both backward primitives need.
  auto fwdDesc = hasBias
      ? dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, anyDesc(src), anyDesc(wei), biasDesc, anyDesc(dst), strides, dilates, padL, padR)
      : dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, anyDesc(src), anyDesc(wei), anyDesc(dst), strides, dilates, padL, padR);
  const auto attr = activationAttr(op == kForward ? activation : kLinear, alpha);
  dnnl::convolution_forward::primitive_desc fwd(fwdDesc, attr, s.engine);

  if (op == kForward) {
    prepare(s, e->a, srcUser, fwd.src_desc(), true);
    prepare(s, e->b, weiUser, fwd.weights_desc(), true);
    prepare(s, e->c, dstUser, fwd.dst_desc(), false);
    e->argA = DNNL_ARG_SRC;
    e->argB = DNNL_ARG_WEIGHTS;
    e->argC = DNNL_ARG_DST;
    e->hasBias = hasBias;
    if (hasBias) e->bias = memory(biasDesc, s.engine, DNNL_MEMORY_NONE);
    e->prim = dnnl::convolution_forward(fwd);
  } else if (op == kBackwardData) {
    dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, anyDesc(src), anyDesc(wei), anyDesc(dst), strides, dilates, padL, padR);
    dnnl::convolution_backward_data::primitive_desc pd(d, s.engine, fwd);
    prepare(s, e->a, dstUser, pd.diff_dst_desc(), true);
    prepare(s, e->b, weiUser, pd.weights_desc(), true);
    prepare(s, e->c, srcUser, pd.diff_src_desc(), false);
    e->argA = DNNL_ARG_DIFF_DST;
    e->argB = DNNL_ARG_WEIGHTS;
    e->argC = DNNL_ARG_DIFF_SRC;
    e->prim = dnnl::convolution_backward_data(pd);
  } else {
    dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, anyDesc(src), anyDesc(wei), anyDesc(dst), strides, dilates, padL, padR);
    dnnl::convolution_backward_weights::primitive_desc pd(d, s.engine, fwd);
    prepare(s, e->a, srcUser, pd.src_desc(), true);
    prepare(s, e->b, dstUser, pd.diff_dst_desc(), true);
    prepare(s, e->c, weiUser, pd.diff_weights_desc(), false);
    e->argA = DNNL_ARG_SRC;
    e->argB = DNNL_ARG_DIFF_DST;
    e->argC = DNNL_ARG_DIFF_WEIGHTS;
    e->prim = dnnl::convolution_backward_weights(pd);
  }
  return e;
}

void run(State& s, Entry& e, uint8_t* heap, const int64_t offsets[4]) {
  e.a.user.set_data_handle(heap + offsets[0]);
  e.b.user.set_data_handle(heap + offsets[1]);
  e.c.user.set_data_handle(heap + offsets[2]);
  if (e.a.reordered) e.a.toInner.execute(s.stream, e.a.user, e.a.inner);
  if (e.b.reordered) e.b.toInner.execute(s.stream, e.b.user, e.b.inner);
  std::unordered_map<int, memory> args{
      {e.argA, e.a.reordered ? e.a.inner : e.a.user},
      {e.argB, e.b.reordered ? e.b.inner : e.b.user},
      {e.argC, e.c.reordered ? e.c.inner : e.c.user},
  };
  if (e.hasBias) {
    e.bias.set_data_handle(heap + offsets[3]);
    args.insert({DNNL_ARG_BIAS, e.bias});
  }
  e.prim.execute(s.stream, args);
  if (e.c.reordered) e.c.toUser.execute(s.stream, e.c.inner, e.c.user);
  s.stream.wait();
}

// ---- Node-API glue ----

napi_value throwError(napi_env env, const std::string& message) {
  napi_throw_error(env, "FEDCT_NATIVE", message.c_str());
  return nullptr;
}

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) return throwError(env, "N-API call failed: " #call); \
  } while (0)

State* stateOf(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<State*>(data);
}

// conv(op, heap: ArrayBuffer, offsets: Float64Array(4) [a, b, c, bias or -1], geometry: Int32Array, activation, alpha)
napi_value Conv(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 4) return throwError(env, "conv(op, heap, offsets, geometry[, activation, alpha])");
  int32_t op = 0, activation = kLinear;
  double alpha = 0;
  CHECK(napi_get_value_int32(env, argv[0], &op));
  if (argc > 4) CHECK(napi_get_value_int32(env, argv[4], &activation));
  if (argc > 5) CHECK(napi_get_value_double(env, argv[5], &alpha));
  void* heapData = nullptr;
  size_t heapBytes = 0;
  CHECK(napi_get_arraybuffer_info(env, argv[1], &heapData, &heapBytes));
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &length, &data, nullptr, nullptr));
  if (type != napi_float64_array || length != 4) return throwError(env, "offsets must be a Float64Array of 4");
  const double* off = static_cast<const double*>(data);
  CHECK(napi_get_typedarray_info(env, argv[3], &type, &length, &data, nullptr, nullptr));
  if (type != napi_int32_array || length != kParams) return throwError(env, "geometry must be an Int32Array of " + std::to_string(kParams));
  Geometry g;
  std::memcpy(&g, data, sizeof(Geometry));
  if ((g.rank != 2 && g.rank != 3) || op < kForward || op > kBackwardWeights) return throwError(env, "bad convolution request");
  const bool hasBias = op == kForward && off[3] >= 0;

  // Bounds: every tensor must lie inside the heap.
  auto count = [&](const int32_t* spatial, int32_t c) {
    int64_t n = int64_t(g.n) * c;
    for (int i = 3 - g.rank; i < 3; i++) n *= spatial[i];
    return n * 4;
  };
  int64_t weights = int64_t(g.ci) * g.co * 4;
  for (int i = 3 - g.rank; i < 3; i++) weights *= g.k[i];
  const int64_t srcBytes = count(g.in, g.ci), dstBytes = count(g.out, g.co);
  const int64_t sizes[4] = {
      op == kBackwardData ? dstBytes : srcBytes,
      op == kBackwardWeights ? dstBytes : weights,
      op == kForward ? dstBytes : op == kBackwardData ? srcBytes : weights,
      hasBias ? int64_t(g.co) * 4 : 0,
  };
  int64_t offsets[4];
  for (int i = 0; i < 4; i++) {
    offsets[i] = static_cast<int64_t>(off[i]);
    if (i == 3 && !hasBias) continue;
    if (offsets[i] < 0 || offsets[i] % 4 != 0 || offsets[i] + sizes[i] > static_cast<int64_t>(heapBytes)) {
      return throwError(env, "tensor " + std::to_string(i) + " lies outside the heap");
    }
  }

  State* s = stateOf(env);
  if (!s) return throwError(env, "native kernels not initialised");
  std::string key(reinterpret_cast<const char*>(&g), sizeof(Geometry));
  key.push_back(static_cast<char>(op));
  key.push_back(hasBias ? 1 : 0);
  key.append(reinterpret_cast<const char*>(&activation), sizeof(activation));
  const float alphaF = static_cast<float>(alpha);
  key.append(reinterpret_cast<const char*>(&alphaF), sizeof(alphaF));
  try {
    auto it = s->cache.find(key);
    if (it == s->cache.end()) it = s->cache.emplace(key, build(*s, op, g, hasBias, activation, alphaF)).first;
    run(*s, *it->second, static_cast<uint8_t*>(heapData), offsets);
  } catch (const dnnl::error& e) {
    return throwError(env, std::string("oneDNN: ") + e.what() + " (status " + std::to_string(static_cast<int>(e.status)) + ")");
  } catch (const std::exception& e) {
    return throwError(env, e.what());
  }
  return nullptr;
}

// ---- pooling and reductions (plain loops: small, memory-bound, not worth a oneDNN primitive) ----

// Pool geometry (Int32Array of kPoolParams): n, c, in[3], window[3], out[3], stride[3], pad before[3].
struct PoolGeometry {
  int32_t n, c;
  int32_t in[3], window[3], out[3], stride[3], pad[3];
};
constexpr size_t kPoolParams = 2 + 5 * 3;

// Max pooling over N D H W C data. op 0: x (a) → y (b). op 1: dy (a), x (b) → dx (c); each output
// voxel's gradient goes to the last maximum of its window (TensorFlow.js' cpu tie rule).
void maxPool3d(int32_t op, float* heap, const int64_t* off, const PoolGeometry& g) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2], C = g.c;
  const float* x = heap + (op == 0 ? off[0] : off[1]);
  std::vector<float> best(C);
  std::vector<int64_t> at(C);
  if (op == 1) std::memset(heap + off[2], 0, sizeof(float) * g.n * D * H * W * C);
  float* y = heap + off[op == 0 ? 1 : 0];  // op 0: output; op 1: dy (read)
  float* dx = heap + off[2];
  int64_t o = 0;
  for (int64_t b = 0; b < g.n; b++) {
    for (int64_t od = 0; od < g.out[0]; od++) {
      const int64_t z0 = od * g.stride[0] - g.pad[0], z1 = std::min<int64_t>(D, z0 + g.window[0]);
      for (int64_t oh = 0; oh < g.out[1]; oh++) {
        const int64_t y0 = oh * g.stride[1] - g.pad[1], y1 = std::min<int64_t>(H, y0 + g.window[1]);
        for (int64_t ow = 0; ow < g.out[2]; ow++, o += C) {
          const int64_t x0 = ow * g.stride[2] - g.pad[2], x1 = std::min<int64_t>(W, x0 + g.window[2]);
          std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
          std::fill(at.begin(), at.end(), -1);
          for (int64_t z = std::max<int64_t>(0, z0); z < z1; z++) {
            for (int64_t yy = std::max<int64_t>(0, y0); yy < y1; yy++) {
              for (int64_t xx = std::max<int64_t>(0, x0); xx < x1; xx++) {
                const int64_t base = (((b * D + z) * H + yy) * W + xx) * C;
                for (int64_t ch = 0; ch < C; ch++) {
                  const float v = x[base + ch];
                  if (v >= best[ch]) {
                    best[ch] = v;
                    at[ch] = base + ch;
                  }
                }
              }
            }
          }
          if (op == 0) {
            for (int64_t ch = 0; ch < C; ch++) y[o + ch] = best[ch];
          } else {
            for (int64_t ch = 0; ch < C; ch++)
              if (at[ch] >= 0) dx[at[ch]] += y[o + ch];
          }
        }
      }
    }
  }
}

// pool3d(op, heap, offsets: Float64Array(3), geometry: Int32Array)
napi_value Pool3d(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 4) return throwError(env, "pool3d(op, heap, offsets, geometry)");
  int32_t op = 0;
  CHECK(napi_get_value_int32(env, argv[0], &op));
  void* heapData = nullptr;
  size_t heapBytes = 0;
  CHECK(napi_get_arraybuffer_info(env, argv[1], &heapData, &heapBytes));
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &length, &data, nullptr, nullptr));
  if (type != napi_float64_array || length != 3) return throwError(env, "offsets must be a Float64Array of 3");
  const double* off = static_cast<const double*>(data);
  CHECK(napi_get_typedarray_info(env, argv[3], &type, &length, &data, nullptr, nullptr));
  if (type != napi_int32_array || length != kPoolParams) return throwError(env, "pool geometry must be an Int32Array of " + std::to_string(kPoolParams));
  PoolGeometry g;
  std::memcpy(&g, data, sizeof(PoolGeometry));
  if (op != 0 && op != 1) return throwError(env, "bad pooling request");
  const int64_t inBytes = int64_t(g.n) * g.c * g.in[0] * g.in[1] * g.in[2] * 4;
  const int64_t outBytes = int64_t(g.n) * g.c * g.out[0] * g.out[1] * g.out[2] * 4;
  const int64_t sizes[3] = {op == 0 ? inBytes : outBytes, op == 0 ? outBytes : inBytes, op == 0 ? 0 : inBytes};
  int64_t offsets[3];
  for (int i = 0; i < 3; i++) {
    offsets[i] = static_cast<int64_t>(off[i]);
    if (op == 0 && i == 2) continue;
    if (offsets[i] < 0 || offsets[i] % 4 != 0 || offsets[i] + sizes[i] > static_cast<int64_t>(heapBytes)) {
      return throwError(env, "tensor " + std::to_string(i) + " lies outside the heap");
    }
    offsets[i] /= 4;
  }
  maxPool3d(op, static_cast<float*>(heapData), offsets, g);
  return nullptr;
}

// sumLeading(heap, xOffset, outOffset, outer, inner): out[j] = Σ_o x[o · inner + j], in double.
napi_value SumLeading(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 5) return throwError(env, "sumLeading(heap, x, out, outer, inner)");
  void* heapData = nullptr;
  size_t heapBytes = 0;
  CHECK(napi_get_arraybuffer_info(env, argv[0], &heapData, &heapBytes));
  double xOff = 0, outOff = 0, outer = 0, inner = 0;
  CHECK(napi_get_value_double(env, argv[1], &xOff));
  CHECK(napi_get_value_double(env, argv[2], &outOff));
  CHECK(napi_get_value_double(env, argv[3], &outer));
  CHECK(napi_get_value_double(env, argv[4], &inner));
  const int64_t xo = static_cast<int64_t>(xOff), oo = static_cast<int64_t>(outOff), n = static_cast<int64_t>(outer), m = static_cast<int64_t>(inner);
  if (xo < 0 || oo < 0 || xo % 4 || oo % 4 || n < 0 || m < 0 || xo + n * m * 4 > static_cast<int64_t>(heapBytes) || oo + m * 4 > static_cast<int64_t>(heapBytes)) {
    return throwError(env, "sumLeading: tensor lies outside the heap");
  }
  const float* x = static_cast<const float*>(heapData) + xo / 4;
  float* out = static_cast<float*>(heapData) + oo / 4;
  std::vector<double> acc(m, 0.0);
  for (int64_t o = 0; o < n; o++) {
    const float* row = x + o * m;
    for (int64_t j = 0; j < m; j++) acc[j] += row[j];
  }
  for (int64_t j = 0; j < m; j++) out[j] = static_cast<float>(acc[j]);
  return nullptr;
}

const char* isaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

// info() → { version, isa, threads, cached }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  const dnnl_version_t* ver = dnnl_version();
  const std::string version = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
  CHECK(napi_create_string_utf8(env, version.c_str(), NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "version", v));
  CHECK(napi_create_string_utf8(env, isaName(dnnl_get_effective_cpu_isa()), NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "isa", v));
  CHECK(napi_create_int32(env, omp_get_max_threads(), &v));
  CHECK(napi_set_named_property(env, out, "threads", v));
  State* s = stateOf(env);
  CHECK(napi_create_int32(env, s ? static_cast<int32_t>(s->cache.size()) : 0, &v));
  CHECK(napi_set_named_property(env, out, "cached", v));
  return out;
}

// setThreads(n): OpenMP threads for the kernels run from this thread.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t n = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) return throwError(env, "setThreads(n) takes a positive integer");
  omp_set_num_threads(n);
  return nullptr;
}

void freeState(napi_env, void* data, void*) { delete static_cast<State*>(data); }

napi_value Init(napi_env env, napi_value exports) {
  State* state = nullptr;
  try {
    state = new State();
  } catch (const std::exception& e) {
    return throwError(env, std::string("oneDNN CPU engine could not start: ") + e.what());
  }
  CHECK(napi_set_instance_data(env, state, freeState, nullptr));
  const napi_property_descriptor props[] = {
      {"conv", nullptr, Conv, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pool3d", nullptr, Pool3d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumLeading", nullptr, SumLeading, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
