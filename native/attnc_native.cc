// attnc's native CPU kernels (docs/native.md): one function per op of the graph (compiler/graph/ops.ts),
// called by runtime/native/executor.ts on Float32Array / Uint32Array buffers that JS owns (shared
// zero-copy: the pointer comes from napi_get_typedarray_info). Every kernel computes exactly what the
// WebGPU kernel of the same op computes (compiler/targets/webgpu/templates/*.ts is the spec).
//
// Matrix products go to oneDNN's matmul or OpenBLAS's cblas_sgemm, whichever measured faster for the
// shape on its first use (transposes are strides in the memory descriptors, never copies); the rest
// is hand-written C++ with OpenMP over rows, heads or columns. Random streams reproduce
// runtime/random.ts bit for bit (lowbias32 counters).
#include <node_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <cblas.h>
#include <omp.h>
#include "oneapi/dnnl/dnnl.hpp"

namespace {

// ---------------------------------------------------------------------------------------------
// N-API helpers

struct Args {
  napi_env env;
  std::vector<napi_value> v;
  Args(napi_env e, napi_callback_info info) : env(e) {
    size_t n = 40;
    v.resize(n);
    napi_get_cb_info(e, info, &n, v.data(), nullptr, nullptr);
    v.resize(n);
  }
  bool present(size_t i) const {
    if (i >= v.size()) return false;
    napi_valuetype t;
    napi_typeof(env, v[i], &t);
    return t != napi_undefined && t != napi_null;
  }
  template <typename T>
  T* buf(size_t i) const {
    if (!present(i)) return nullptr;
    void* data = nullptr;
    size_t length = 0;
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v[i], &type, &length, &data, &ab, &off) != napi_ok) {
      napi_throw_type_error(env, nullptr, ("argument " + std::to_string(i) + " must be a typed array").c_str());
      return nullptr;
    }
    return static_cast<T*>(data);
  }
  float* f(size_t i) const { return buf<float>(i); }
  uint32_t* u(size_t i) const { return buf<uint32_t>(i); }
  double d(size_t i) const {
    double x = 0;
    napi_get_value_double(env, v[i], &x);
    return x;
  }
  int64_t i(size_t k) const { return static_cast<int64_t>(d(k)); }
  uint32_t u32(size_t k) const { return static_cast<uint32_t>(d(k)); }
  bool b(size_t k) const {
    bool x = false;
    if (napi_get_value_bool(env, v[k], &x) != napi_ok) return d(k) != 0;
    return x;
  }
};

/** Parallel regions cost a wake-up of the other threads: only loops with enough items get one. */
inline bool worthThreads(int64_t items) { return items >= 64; }

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---------------------------------------------------------------------------------------------
// runtime/random.ts

inline uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}
inline uint32_t stream_step(uint32_t s, uint32_t p) { return lowbias32((s + 0x9e3779b9u) ^ p); }
inline uint32_t stream_key(uint32_t seed, uint32_t stream) { return lowbias32(lowbias32(seed) ^ stream); }
inline uint32_t random_bits(uint32_t key, uint32_t counter) { return lowbias32(key ^ counter); }

/** A dropout mask: keep counter c when (bits >> 8) >= threshold (threshold 0: no mask). */
struct Mask {
  uint32_t key = 0;
  uint32_t threshold = 0;
  float keep = 1.0f;
  bool on = false;
  inline float at(uint32_t c) const { return on ? ((random_bits(key, c) >> 8) >= threshold ? keep : 0.0f) : 1.0f; }
};

/** Dropout's stream: streamId(0x102, site, layer, step, micro) (elementwise.ts maskFactor). */
Mask dropoutMask(uint32_t seed, uint32_t site, uint32_t layer, uint32_t step, uint32_t micro, double rate) {
  Mask m;
  if (!(rate > 0)) return m;
  uint32_t s = stream_step(stream_step(stream_step(stream_step(stream_step(5u, 0x102u), site), layer), step), micro);
  m.key = stream_key(seed, s);
  m.threshold = static_cast<uint32_t>(std::ceil(rate * 16777216.0));
  m.keep = static_cast<float>(1.0 / (1.0 - rate));
  m.on = true;
  return m;
}

/** Attention dropout's stream: streamId(1, layer, step, micro). */
Mask attentionMask(uint32_t seed, uint32_t layer, uint32_t step, uint32_t micro, double rate) {
  Mask m;
  if (!(rate > 0)) return m;
  uint32_t s = stream_step(stream_step(stream_step(stream_step(4u, 1u), layer), step), micro);
  m.key = stream_key(seed, s);
  m.threshold = static_cast<uint32_t>(std::ceil(rate * 16777216.0));
  m.keep = static_cast<float>(1.0 / (1.0 - rate));
  m.on = true;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Matrix products: c[M, N] (+)= op(a)[M, K] op(b)[K, N] (+ bias[N]), row-major.

dnnl::engine& cpuEngine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& cpuStream() {
  static dnnl::stream s(cpuEngine());
  return s;
}

struct GemmKey {
  int64_t M, K, N;
  bool ta, tb, acc, bias;
  bool operator<(const GemmKey& o) const {
    return std::tie(M, K, N, ta, tb, acc, bias) < std::tie(o.M, o.K, o.N, o.ta, o.tb, o.acc, o.bias);
  }
};

struct GemmPlan {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, c, bias;
  /** 0: oneDNN, 1: OpenBLAS. */
  int choice = 0;
  double ms[2] = {0, 0};
};

std::map<GemmKey, std::unique_ptr<GemmPlan>> gemmPlans;
/** 2: by a fixed rule (the default); -1: measure each shape, keep the faster; 0: always oneDNN; 1: always OpenBLAS (configure()). */
int forcedGemm = 2;

void runDnnl(GemmPlan& p, const GemmKey& k, const float* a, const float* b, float* c, const float* bias) {
  using namespace dnnl;
  std::unordered_map<int, memory> args;
  args.insert({DNNL_ARG_SRC, memory(p.a, cpuEngine(), const_cast<float*>(a))});
  args.insert({DNNL_ARG_WEIGHTS, memory(p.b, cpuEngine(), const_cast<float*>(b))});
  args.insert({DNNL_ARG_DST, memory(p.c, cpuEngine(), c)});
  if (k.bias) args.insert({DNNL_ARG_BIAS, memory(p.bias, cpuEngine(), const_cast<float*>(bias))});
  p.prim.execute(cpuStream(), args);
  cpuStream().wait();
}

void runBlas(const GemmKey& k, const float* a, const float* b, float* c, const float* bias) {
  float beta = k.acc ? 1.0f : 0.0f;
  if (k.bias) {
    // c = bias (+ c), then c += op(a) op(b).
    for (int64_t m = 0; m < k.M; m++) {
      float* row = c + m * k.N;
      if (k.acc) for (int64_t n = 0; n < k.N; n++) row[n] += bias[n];
      else std::memcpy(row, bias, sizeof(float) * k.N);
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, k.ta ? CblasTrans : CblasNoTrans, k.tb ? CblasTrans : CblasNoTrans, k.M, k.N, k.K, 1.0f, a,
              k.ta ? k.M : k.K, b, k.tb ? k.K : k.N, beta, c, k.N);
}

GemmPlan& planGemm(const GemmKey& k) {
  auto it = gemmPlans.find(k);
  if (it != gemmPlans.end()) return *it->second;
  using namespace dnnl;
  using dt = memory::data_type;
  auto p = std::make_unique<GemmPlan>();
  p->a = memory::desc({k.M, k.K}, dt::f32, k.ta ? memory::dims{1, k.M} : memory::dims{k.K, 1});
  p->b = memory::desc({k.K, k.N}, dt::f32, k.tb ? memory::dims{1, k.K} : memory::dims{k.N, 1});
  p->c = memory::desc({k.M, k.N}, dt::f32, memory::dims{k.N, 1});
  p->bias = memory::desc({1, k.N}, dt::f32, memory::dims{k.N, 1});
  primitive_attr attr;
  if (k.acc) {
    post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  auto desc = k.bias ? matmul::desc(p->a, p->b, p->bias, p->c) : matmul::desc(p->a, p->b, p->c);
  p->prim = matmul(matmul::primitive_desc(desc, attr, cpuEngine()));
  if (forcedGemm == 0 || forcedGemm == 1) {
    p->choice = forcedGemm;
  } else if (forcedGemm == 2) {
    // The default: a fixed rule, so that the same run gives the same numbers every time (the two
    // libraries round differently, and timing flips close calls from one process to the next).
    // oneDNN's small-shape dispatch costs more than the product when a dimension is tiny (the head's
    // 10 classes: OpenBLAS 10-50x faster); elsewhere oneDNN was as fast or faster on this machine.
    p->choice = (k.M < 16 || k.K < 16 || k.N < 16) ? 1 : 0;
  } else {
    // Measure both on scratch operands of the same shape (the real output may be accumulated into).
    std::vector<float> a(k.M * k.K, 0.5f), b(k.K * k.N, 0.25f), c(k.M * k.N, 0.0f), bias(k.N, 0.1f);
    auto time = [&](int which) {
      double best = 1e30;
      for (int r = 0; r < 4; r++) {
        auto t0 = std::chrono::steady_clock::now();
        if (which == 0) runDnnl(*p, k, a.data(), b.data(), c.data(), bias.data());
        else runBlas(k, a.data(), b.data(), c.data(), bias.data());
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) best = std::min(best, ms);
      }
      return best;
    };
    p->ms[0] = time(0);
    p->ms[1] = time(1);
    p->choice = p->ms[1] < p->ms[0] ? 1 : 0;
  }
  auto& ref = *p;
  gemmPlans.emplace(k, std::move(p));
  return ref;
}

void gemm(const GemmKey& k, const float* a, const float* b, float* c, const float* bias) {
  GemmPlan& p = planGemm(k);
  if (p.choice == 0) runDnnl(p, k, a, b, c, bias);
  else runBlas(k, a, b, c, bias);
}

// matmul(a, b, c, M, K, N, transA, transB, accumulate, bias?)
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args x(env, info);
  GemmKey k{x.i(3), x.i(4), x.i(5), x.b(6), x.b(7), x.b(8), x.present(9)};
  gemm(k, x.f(0), x.f(1), x.f(2), x.f(9));
  return undefined(env);
}

// gemmChoices() -> [{M, K, N, transA, transB, accumulate, bias, dnnlMs, blasMs, chosen}]
napi_value GemmChoices(napi_env env, napi_callback_info) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (auto& [k, p] : gemmPlans) {
    napi_value o, v;
    napi_create_object(env, &o);
    auto num = [&](const char* name, double d) {
      napi_create_double(env, d, &v);
      napi_set_named_property(env, o, name, v);
    };
    num("M", k.M); num("K", k.K); num("N", k.N);
    num("transA", k.ta); num("transB", k.tb); num("accumulate", k.acc); num("bias", k.bias);
    num("dnnlMs", p->ms[0]); num("blasMs", p->ms[1]);
    napi_create_string_utf8(env, p->choice == 0 ? "onednn" : "openblas", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "chosen", v);
    napi_set_element(env, arr, i++, o);
  }
  return arr;
}

// ---------------------------------------------------------------------------------------------
// Row kernels (rows.ts)

// layernorm(x, gamma, beta, y, stats, rows, dim, eps)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *x = a.f(0), *gamma = a.f(1), *beta = a.f(2);
  float *y = a.f(3), *stats = a.f(4);
  int64_t rows = a.i(5), D = a.i(6);
  float eps = static_cast<float>(a.d(7));
#pragma omp parallel for schedule(static) if (worthThreads(rows))
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * D;
    float s = 0;
    for (int64_t i = 0; i < D; i++) s += xr[i];
    float mean = s / D;
    float q = 0;
    for (int64_t i = 0; i < D; i++) { float d = xr[i] - mean; q += d * d; }
    float rstd = 1.0f / std::sqrt(q / D + eps);
    float* yr = y + r * D;
    for (int64_t i = 0; i < D; i++) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
  }
  return undefined(env);
}

// layernormBwd(x, gamma, stats, dy, dx, rows, dim, accumulate)
napi_value LayerNormBwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *x = a.f(0), *gamma = a.f(1), *stats = a.f(2), *dy = a.f(3);
  float* dx = a.f(4);
  int64_t rows = a.i(5), D = a.i(6);
  bool acc = a.b(7);
#pragma omp parallel for schedule(static) if (worthThreads(rows))
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * D, *gr = dy + r * D;
    float mean = stats[2 * r], rstd = stats[2 * r + 1];
    float sg = 0, sgx = 0;
    for (int64_t i = 0; i < D; i++) {
      float g = gr[i] * gamma[i];
      sg += g;
      sgx += g * (xr[i] - mean) * rstd;
    }
    float mg = sg / D, mgx = sgx / D;
    float* o = dx + r * D;
    for (int64_t i = 0; i < D; i++) {
      float v = rstd * (gr[i] * gamma[i] - mg - (xr[i] - mean) * rstd * mgx);
      o[i] = acc ? o[i] + v : v;
    }
  }
  return undefined(env);
}

/** Column sums of a [rows, cols] matrix, added into out (threads split the columns). */
template <typename F>
void columnSums(int64_t rows, int64_t cols, F value, float* out, float* out2 = nullptr) {
  int threads = omp_get_max_threads();
#pragma omp parallel num_threads(threads) if (rows * cols >= 65536)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    int64_t lo = cols * t / n, hi = cols * (t + 1) / n;
    std::vector<float> s(hi - lo, 0.0f), s2(out2 ? hi - lo : 0, 0.0f);
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = lo; c < hi; c++) {
        if (out2) {
          auto [v1, v2] = value(r, c);
          s[c - lo] += v1;
          s2[c - lo] += v2;
        } else s[c - lo] += std::get<0>(value(r, c));
      }
    for (int64_t c = lo; c < hi; c++) {
      out[c] += s[c - lo];
      if (out2) out2[c] += s2[c - lo];
    }
  }
}

// layernormBwdParams(x, stats, dy, dgamma, dbeta, rows, dim)
napi_value LayerNormBwdParams(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *x = a.f(0), *stats = a.f(1), *dy = a.f(2);
  float *dgamma = a.f(3), *dbeta = a.f(4);
  int64_t rows = a.i(5), D = a.i(6);
  columnSums(rows, D, [&](int64_t r, int64_t d) {
    float g = dy[r * D + d];
    return std::make_tuple(g * (x[r * D + d] - stats[2 * r]) * stats[2 * r + 1], g);
  }, dgamma, dbeta);
  return undefined(env);
}

// biasGrad(dy, db, rows, cols)
napi_value BiasGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* dy = a.f(0);
  float* db = a.f(1);
  int64_t rows = a.i(2), cols = a.i(3);
  columnSums(rows, cols, [&](int64_t r, int64_t c) { return std::make_tuple(dy[r * cols + c], 0.0f); }, db);
  return undefined(env);
}

// softmax(x, rows, cols): in place
void softmaxRows(float* x, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (worthThreads(rows))
  for (int64_t r = 0; r < rows; r++) {
    float* row = x + r * C;
    float m = -3.4028234663852886e38f;
    for (int64_t i = 0; i < C; i++) m = std::max(m, row[i]);
    float s = 0;
    for (int64_t i = 0; i < C; i++) { float e = std::exp(row[i] - m); row[i] = e; s += e; }
    float inv = 1.0f / s;
    for (int64_t i = 0; i < C; i++) row[i] *= inv;
  }
}
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a(env, info);
  softmaxRows(a.f(0), a.i(1), a.i(2));
  return undefined(env);
}

// softmaxBwd(p, d, rows, cols): d <- p * (d - sum d p), in place
void softmaxBwdRows(const float* p, float* d, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (worthThreads(rows))
  for (int64_t r = 0; r < rows; r++) {
    const float* pr = p + r * C;
    float* dr = d + r * C;
    float s = 0;
    for (int64_t i = 0; i < C; i++) s += dr[i] * pr[i];
    for (int64_t i = 0; i < C; i++) dr[i] = pr[i] * (dr[i] - s);
  }
}
napi_value SoftmaxBwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  softmaxBwdRows(a.f(0), a.f(1), a.i(2), a.i(3));
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// Elementwise (elementwise.ts). Stream arguments: seed, step, micro, layer.


// GELU through oneDNN's eltwise gelu_erf (forward and backward), with the dropout mask applied here.
struct GeluPlan {
  dnnl::eltwise_forward fwd;
  dnnl::eltwise_backward bwd;
  dnnl::memory::desc md;
};
std::map<int64_t, std::unique_ptr<GeluPlan>> geluPlans;

GeluPlan& planGelu(int64_t n) {
  auto it = geluPlans.find(n);
  if (it != geluPlans.end()) return *it->second;
  using namespace dnnl;
  auto p = std::make_unique<GeluPlan>();
  p->md = memory::desc({n}, memory::data_type::f32, memory::format_tag::a);
  auto fpd = eltwise_forward::primitive_desc(eltwise_forward::desc(prop_kind::forward_training, algorithm::eltwise_gelu_erf, p->md, 0.f, 0.f), cpuEngine());
  p->fwd = eltwise_forward(fpd);
  p->bwd = eltwise_backward(eltwise_backward::primitive_desc(eltwise_backward::desc(algorithm::eltwise_gelu_erf, p->md, p->md, 0.f, 0.f), cpuEngine(), fpd));
  auto& ref = *p;
  geluPlans.emplace(n, std::move(p));
  return ref;
}

// gelu(x, y, count, seed, step, micro, layer, site, rate)
napi_value Gelu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = a.f(0);
  float* y = a.f(1);
  int64_t n = a.i(2);
  Mask m = dropoutMask(a.u32(3), a.u32(7), a.u32(6), a.u32(4), a.u32(5), a.d(8));
  GeluPlan& p = planGelu(n);
  p.fwd.execute(cpuStream(), {{DNNL_ARG_SRC, dnnl::memory(p.md, cpuEngine(), const_cast<float*>(x))}, {DNNL_ARG_DST, dnnl::memory(p.md, cpuEngine(), y)}});
  cpuStream().wait();
  if (m.on) {
#pragma omp parallel for schedule(static) if (worthThreads(n / 1024))
    for (int64_t i = 0; i < n; i++) y[i] *= m.at(static_cast<uint32_t>(i));
  }
  return undefined(env);
}

// geluBwd(x, dy, dx, count, seed, step, micro, layer, site, rate): dx = (dy * mask) * gelu'(x)
napi_value GeluBwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *x = a.f(0), *dy = a.f(1);
  float* dx = a.f(2);
  int64_t n = a.i(3);
  Mask m = dropoutMask(a.u32(4), a.u32(8), a.u32(7), a.u32(5), a.u32(6), a.d(9));
  GeluPlan& p = planGelu(n);
  std::vector<float> masked;
  const float* g = dy;
  if (m.on) {
    masked.resize(n);
#pragma omp parallel for schedule(static) if (worthThreads(n / 1024))
    for (int64_t i = 0; i < n; i++) masked[i] = dy[i] * m.at(static_cast<uint32_t>(i));
    g = masked.data();
  }
  p.bwd.execute(cpuStream(), {{DNNL_ARG_SRC, dnnl::memory(p.md, cpuEngine(), const_cast<float*>(x))},
                              {DNNL_ARG_DIFF_DST, dnnl::memory(p.md, cpuEngine(), const_cast<float*>(g))},
                              {DNNL_ARG_DIFF_SRC, dnnl::memory(p.md, cpuEngine(), dx)}});
  cpuStream().wait();
  return undefined(env);
}

// residual(h, y, out, rows, dim, tokens, seed, step, micro, layer, dropSite, dropout, pathSite, dropPath)
// residualBwd(dout, null, dy, ...same)
napi_value Residual(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *h = a.f(0), *y = a.f(1);
  float* out = a.f(2);
  int64_t rows = a.i(3), D = a.i(4), T = a.i(5);
  uint32_t seed = a.u32(6), step = a.u32(7), micro = a.u32(8), layer = a.u32(9);
  Mask drop = dropoutMask(seed, a.u32(10), layer, step, micro, a.d(11));
  Mask path = dropoutMask(seed, a.u32(12), layer, step, micro, a.d(13));
  int64_t n = rows * D, perSample = D * T;
  // With h: out = h + branch(y); without: out = branch(y) (the backward: dy = branch(dout)).
#pragma omp parallel for schedule(static) if (worthThreads(n / 1024))
  for (int64_t i = 0; i < n; i++) {
    float v = y[i];
    if (drop.on) v = v * drop.at(static_cast<uint32_t>(i));
    if (path.on) v = v * path.at(static_cast<uint32_t>(i / perSample));
    out[i] = h ? h[i] + v : v;
  }
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// The ends of the network (embed.ts)

// patchify(images, patches, batch, height, width, channels, patch)
napi_value Patchify(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* img = a.f(0);
  float* out = a.f(1);
  int64_t B = a.i(2), Hh = a.i(3), Ww = a.i(4), C = a.i(5), p = a.i(6);
  int64_t gw = Ww / p, n = (Hh / p) * gw, rowLen = C * p * p;
#pragma omp parallel for schedule(static) if (worthThreads(B * n))
  for (int64_t row = 0; row < B * n; row++) {
    int64_t b = row / n, cell = row % n;
    float* o = out + row * rowLen;
    for (int64_t c = 0; c < C; c++)
      for (int64_t py = 0; py < p; py++)
        for (int64_t px = 0; px < p; px++) {
          int64_t yy = (cell / gw) * p + py, xx = (cell % gw) * p + px;
          o[(c * p + py) * p + px] = img[((b * Hh + yy) * Ww + xx) * C + c];
        }
  }
  return undefined(env);
}

// embed(patches, cls?, pos, h, batch, patches, dim)
napi_value Embed(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *patches = a.f(0), *cls = a.f(1), *pos = a.f(2);
  float* h = a.f(3);
  int64_t B = a.i(4), P = a.i(5), D = a.i(6);
  int64_t first = cls ? 1 : 0, T = P + first;
#pragma omp parallel for schedule(static) if (worthThreads(B * T))
  for (int64_t bt = 0; bt < B * T; bt++) {
    int64_t b = bt / T, t = bt % T;
    const float* src = (cls && t == 0) ? cls : patches + (b * P + t - first) * D;
    float* o = h + bt * D;
    for (int64_t d = 0; d < D; d++) o[d] = src[d] + pos[t * D + d];
  }
  return undefined(env);
}

// embedBwd(dh, dpatches, dpos, dcls?, batch, patches, dim)
napi_value EmbedBwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* dh = a.f(0);
  float *dpatches = a.f(1), *dpos = a.f(2), *dcls = a.f(3);
  int64_t B = a.i(4), P = a.i(5), D = a.i(6);
  int64_t first = dcls ? 1 : 0, T = P + first;
#pragma omp parallel for schedule(static) if (worthThreads(T * D))
  for (int64_t i = 0; i < T * D; i++) {
    int64_t t = i / D, d = i % D;
    float s = 0;
    for (int64_t b = 0; b < B; b++) {
      float g = dh[(b * T + t) * D + d];
      s += g;
      if (t >= first) dpatches[(b * P + t - first) * D + d] = g;
    }
    dpos[i] += s;
    if (dcls && t == 0) dcls[d] += s;
  }
  return undefined(env);
}

// pool(x, pooled, batch, tokens, dim, mean)
napi_value Pool(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = a.f(0);
  float* out = a.f(1);
  int64_t B = a.i(2), T = a.i(3), D = a.i(4);
  bool mean = a.b(5);
  for (int64_t b = 0; b < B; b++)
    for (int64_t d = 0; d < D; d++) {
      if (!mean) { out[b * D + d] = x[b * T * D + d]; continue; }
      float s = 0;
      for (int64_t t = 0; t < T; t++) s += x[(b * T + t) * D + d];
      out[b * D + d] = s / static_cast<float>(T);
    }
  return undefined(env);
}

// poolBwd(dpooled, dx, batch, tokens, dim, mean)
napi_value PoolBwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* dp = a.f(0);
  float* dx = a.f(1);
  int64_t B = a.i(2), T = a.i(3), D = a.i(4);
  bool mean = a.b(5);
#pragma omp parallel for schedule(static) if (worthThreads(B * T))
  for (int64_t bt = 0; bt < B * T; bt++) {
    int64_t b = bt / T, t = bt % T;
    for (int64_t d = 0; d < D; d++)
      dx[bt * D + d] = mean ? dp[b * D + d] / static_cast<float>(T) : (t == 0 ? dp[b * D + d] : 0.0f);
  }
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// Grouped attention (attention.ts). qkv [B*T, (H + 2G) * hd]; group of head h: uniform h / (H / G),
// or table[h], or table[b * H + h] (per sample). Probabilities [B, H, T, T].

struct Attn {
  int64_t B, T, H, G, hd, W;
  const uint32_t* table;
  bool perSample;
  float scale;
  inline int64_t group(int64_t b, int64_t h) const {
    if (!table) return h / (H / G);
    return perSample ? table[b * H + h] : table[h];
  }
  inline const float* q(const float* qkv, int64_t b, int64_t t, int64_t h) const { return qkv + (b * T + t) * W + h * hd; }
  inline const float* k(const float* qkv, int64_t b, int64_t t, int64_t g) const { return qkv + (b * T + t) * W + (H + g) * hd; }
  inline const float* v(const float* qkv, int64_t b, int64_t t, int64_t g) const { return qkv + (b * T + t) * W + (H + G + g) * hd; }
  inline int64_t pIndex(int64_t b, int64_t h, int64_t i, int64_t j) const { return ((b * H + h) * T + i) * T + j; }
};

// shape args at (k): batch, tokens, heads, groups, headDim, perSample
Attn attnOf(const Args& a, size_t k, const uint32_t* table) {
  Attn o;
  o.B = a.i(k); o.T = a.i(k + 1); o.H = a.i(k + 2); o.G = a.i(k + 3); o.hd = a.i(k + 4);
  o.perSample = a.b(k + 5);
  o.W = (o.H + 2 * o.G) * o.hd;
  o.table = table;
  o.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(o.hd)));
  return o;
}

// The per-head products are small strided matrix products (T x T x hd): one single-threaded sgemm
// each, the threads taking (image, head) pairs. Q, K and V are read in place from qkv through their
// leading dimensions; nothing is transposed or copied except P * mask when attention dropout is on.
inline void sg(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
               int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/** P * mask of one head into buf (or P itself without dropout). */
inline const float* maskedP(const Attn& o, const Mask& m, const float* p, int64_t b, int64_t h, std::vector<float>& buf) {
  const float* src = p + o.pIndex(b, h, 0, 0);
  if (!m.on) return src;
  buf.resize(o.T * o.T);
  uint32_t base = static_cast<uint32_t>(o.pIndex(b, h, 0, 0));
  for (int64_t e = 0; e < o.T * o.T; e++) buf[e] = src[e] * m.at(base + static_cast<uint32_t>(e));
  return buf.data();
}

// attnScores(qkv, table?, s, B, T, H, G, hd, perSample): S = (Q_h scale) K_g^T
napi_value AttnScores(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* qkv = a.f(0);
  Attn o = attnOf(a, 3, a.u(1));
  float* s = a.f(2);
#pragma omp parallel for schedule(static) if (worthThreads(o.B * o.H))
  for (int64_t bh = 0; bh < o.B * o.H; bh++) {
    int64_t b = bh / o.H, h = bh % o.H, g = o.group(b, h);
    sg(false, true, o.T, o.T, o.hd, o.scale, o.q(qkv, b, 0, h), o.W, o.k(qkv, b, 0, g), o.W, 0.0f, s + o.pIndex(b, h, 0, 0), o.T);
  }
  return undefined(env);
}

// attnAv(p, qkv, table?, out, B, T, H, G, hd, perSample, seed, step, micro, layer, rate): O_h = (P * mask) V_g
napi_value AttnAv(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *p = a.f(0), *qkv = a.f(1);
  float* out = a.f(3);
  Attn o = attnOf(a, 4, a.u(2));
  Mask m = attentionMask(a.u32(10), a.u32(13), a.u32(11), a.u32(12), a.d(14));
  int64_t HD = o.H * o.hd;
#pragma omp parallel for schedule(static) if (worthThreads(o.B * o.H))
  for (int64_t bh = 0; bh < o.B * o.H; bh++) {
    int64_t b = bh / o.H, h = bh % o.H, g = o.group(b, h);
    std::vector<float> buf;
    const float* pm = maskedP(o, m, p, b, h, buf);
    sg(false, false, o.T, o.hd, o.T, 1.0f, pm, o.T, o.v(qkv, b, 0, g), o.W, 0.0f, out + b * o.T * HD + h * o.hd, HD);
  }
  return undefined(env);
}

// attnDp(dout, qkv, table?, dp, B, T, H, G, hd, perSample, seed, step, micro, layer, rate): dP = (dO_h V_g^T) * mask
napi_value AttnDp(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *dout = a.f(0), *qkv = a.f(1);
  float* dp = a.f(3);
  Attn o = attnOf(a, 4, a.u(2));
  Mask m = attentionMask(a.u32(10), a.u32(13), a.u32(11), a.u32(12), a.d(14));
  int64_t HD = o.H * o.hd;
#pragma omp parallel for schedule(static) if (worthThreads(o.B * o.H))
  for (int64_t bh = 0; bh < o.B * o.H; bh++) {
    int64_t b = bh / o.H, h = bh % o.H, g = o.group(b, h);
    float* dst = dp + o.pIndex(b, h, 0, 0);
    sg(false, true, o.T, o.T, o.hd, 1.0f, dout + b * o.T * HD + h * o.hd, HD, o.v(qkv, b, 0, g), o.W, 0.0f, dst, o.T);
    if (m.on) {
      uint32_t base = static_cast<uint32_t>(o.pIndex(b, h, 0, 0));
      for (int64_t e = 0; e < o.T * o.T; e++) dst[e] *= m.at(base + static_cast<uint32_t>(e));
    }
  }
  return undefined(env);
}

// attnDqkv(ds, p, dout, qkv, table?, dqkv, B, T, H, G, hd, perSample, seed, step, micro, layer, rate):
// dQ_h = scale dS_h K_g; dK_g = sum_{h in g} scale dS_h^T Q_h; dV_g = sum_{h in g} (P_h * mask)^T dO_h
// (heads in order; a group without heads gets zeros). Every column of dqkv is written.
napi_value AttnDqkv(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *ds = a.f(0), *p = a.f(1), *dout = a.f(2), *qkv = a.f(3);
  float* dqkv = a.f(5);
  Attn o = attnOf(a, 6, a.u(4));
  Mask m = attentionMask(a.u32(12), a.u32(15), a.u32(13), a.u32(14), a.d(16));
  int64_t HD = o.H * o.hd;
#pragma omp parallel for schedule(static) if (worthThreads(o.B * o.H))
  for (int64_t bh = 0; bh < o.B * o.H; bh++) {
    int64_t b = bh / o.H, h = bh % o.H, g = o.group(b, h);
    sg(false, false, o.T, o.hd, o.T, o.scale, ds + o.pIndex(b, h, 0, 0), o.T, o.k(qkv, b, 0, g), o.W, 0.0f,
       dqkv + b * o.T * o.W + h * o.hd, o.W);
  }
#pragma omp parallel for schedule(static) if (worthThreads(o.B * o.G))
  for (int64_t bg = 0; bg < o.B * o.G; bg++) {
    int64_t b = bg / o.G, g = bg % o.G;
    float* dk = dqkv + b * o.T * o.W + (o.H + g) * o.hd;
    float* dv = dqkv + b * o.T * o.W + (o.H + o.G + g) * o.hd;
    bool first = true;
    std::vector<float> buf;
    for (int64_t h = 0; h < o.H; h++) {
      if (o.group(b, h) != g) continue;
      float beta = first ? 0.0f : 1.0f;
      sg(true, false, o.T, o.hd, o.T, o.scale, ds + o.pIndex(b, h, 0, 0), o.T, o.q(qkv, b, 0, h), o.W, beta, dk, o.W);
      const float* pm = maskedP(o, m, p, b, h, buf);
      sg(true, false, o.T, o.hd, o.T, 1.0f, pm, o.T, dout + b * o.T * HD + h * o.hd, HD, beta, dv, o.W);
      first = false;
    }
    if (first) {
      for (int64_t j = 0; j < o.T; j++) {
        std::memset(dk + j * o.W, 0, sizeof(float) * o.hd);
        std::memset(dv + j * o.W, 0, sizeof(float) * o.hd);
      }
    }
  }
  return undefined(env);
}

// The mean entropy of a K/V group's key self-attention, softmax_j(k_i . k_j / sqrt(hd)) for each token
// i (compiler/ir/scores.ts keySelfAttentionEntropy): ln Z_i - sum_j e_ij (s_ij - m_i) / Z_i.
template <typename Key>
float keyEntropy(const Key& key, int64_t T, int64_t hd, std::vector<float>& s) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  float total = 0;
  for (int64_t i = 0; i < T; i++) {
    float m = -INFINITY;
    for (int64_t j = 0; j < T; j++) {
      float dot = 0;
      for (int64_t d = 0; d < hd; d++) dot += key(i, d) * key(j, d);
      s[j] = dot * scale;
      m = std::max(m, s[j]);
    }
    float z = 0, w = 0;
    for (int64_t j = 0; j < T; j++) {
      const float e = std::exp(s[j] - m);
      z += e;
      w += e * (s[j] - m);
    }
    total += std::log(z) - w / z;
  }
  return total / static_cast<float>(T);
}

// keyStat(qkv, stats, B, T, H, G, hd, kind): a statistic of each image's K/V group over tokens and
// head_dim (compiler/ir/scores.ts), kind 0: l2 norm sqrt(sum K^2), 1: l1 norm sum |K|, 2: population
// variance (the mean first, then the mean squared deviation), 3: the key self-attention entropy.
napi_value KeyStat(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* qkv = a.f(0);
  float* stats = a.f(1);
  int64_t B = a.i(2), T = a.i(3), H = a.i(4), G = a.i(5), hd = a.i(6), kind = a.i(7);
  int64_t W = (H + 2 * G) * hd;
  const float n = static_cast<float>(T * hd);
  std::vector<float> row(kind == 3 ? T : 0);
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < G; g++) {
      auto key = [&](int64_t t, int64_t d) { return qkv[(b * T + t) * W + (H + g) * hd + d]; };
      if (kind == 3) {
        stats[b * G + g] = keyEntropy(key, T, hd, row);
        continue;
      }
      float s = 0;
      for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < hd; d++) s += kind == 1 ? std::fabs(key(t, d)) : kind == 0 ? key(t, d) * key(t, d) : key(t, d);
      if (kind == 2) {
        const float mean = s / n;
        s = 0;
        for (int64_t t = 0; t < T; t++)
          for (int64_t d = 0; d < hd; d++) s += (key(t, d) - mean) * (key(t, d) - mean);
        s /= n;
      }
      stats[b * G + g] = kind == 0 ? std::sqrt(s) : s;
    }
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// PGQA (perturb.ts). Perturbation args at (k): B, T, H, G, hd, atOutput, paper

struct Perturb {
  int64_t B, T, H, G, hd;
  bool atOutput, paper;
  int64_t rowsPerHead, n, rows, noiseRows;
  inline int64_t xIndex(int64_t row, int64_t j) const {
    if (atOutput) return ((row / H) * T + j / hd) * (H * hd) + (row % H) * hd + j % hd;
    return row * T + j;
  }
  inline int64_t zRow(int64_t row) const { return paper ? row % (H * rowsPerHead) : row; }
};

Perturb perturbOf(const Args& a, size_t k) {
  Perturb o;
  o.B = a.i(k); o.T = a.i(k + 1); o.H = a.i(k + 2); o.G = a.i(k + 3); o.hd = a.i(k + 4);
  o.atOutput = a.b(k + 5); o.paper = a.b(k + 6);
  o.rowsPerHead = o.atOutput ? 1 : o.T;
  o.n = o.atOutput ? o.T * o.hd : o.T;
  o.rows = o.B * o.H * o.rowsPerHead;
  o.noiseRows = o.paper ? o.H * o.rowsPerHead : o.rows;
  return o;
}

// noise(z, B, T, H, G, hd, atOutput, paper, gaussian, seed, step, micro, layer)
napi_value Noise(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float* z = a.f(0);
  Perturb o = perturbOf(a, 1);
  bool gaussian = a.b(8);
  uint32_t seed = a.u32(9), step = a.u32(10), micro = a.u32(11), layer = a.u32(12);
  uint32_t stream = stream_step(stream_step(stream_step(stream_step(4u, 2u), layer), step), micro);
  uint32_t key = stream_key(seed, stream);
  int64_t hpg = std::max<int64_t>(1, o.H / o.G);
  const double two24 = 16777216.0;
#pragma omp parallel for schedule(static) if (worthThreads(o.noiseRows))
  for (int64_t row = 0; row < o.noiseRows; row++) {
    float* zr = z + row * o.n;
    uint32_t base = static_cast<uint32_t>(row * o.n);
    float s = 0;
    for (int64_t j = 0; j < o.n; j++) {
      uint32_t c = base + static_cast<uint32_t>(j);
      float v;
      if (gaussian) {
        uint32_t c2 = 2u * c;
        double u1 = (random_bits(key, c2) >> 8) / two24, u2 = (random_bits(key, c2 + 1u) >> 8) / two24;
        v = static_cast<float>(std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2));
      } else {
        v = static_cast<float>((random_bits(key, c) >> 8) / two24);
      }
      if (o.paper && j == ((row / o.rowsPerHead) % o.H) % hpg) v = 0.0f;
      zr[j] = v;
      s += v;
    }
    float mean = s / o.n;
    float q = 0;
    for (int64_t j = 0; j < o.n; j++) { float d = zr[j] - mean; q += d * d; }
    float sd = std::sqrt(q / o.n);
    if (sd == 0.0f) sd = 1.0f;
    for (int64_t j = 0; j < o.n; j++) zr[j] = (zr[j] - mean) / sd;
  }
  return undefined(env);
}

// perturb(x, z, out, B, T, H, G, hd, atOutput, paper, scale)
napi_value PerturbFwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *x = a.f(0), *z = a.f(1);
  float* out = a.f(2);
  Perturb o = perturbOf(a, 3);
  float scale = static_cast<float>(a.d(10));
#pragma omp parallel for schedule(static) if (worthThreads(o.rows))
  for (int64_t row = 0; row < o.rows; row++) {
    float s = 0;
    for (int64_t j = 0; j < o.n; j++) s += x[o.xIndex(row, j)];
    float mean = s / o.n, q = 0;
    for (int64_t j = 0; j < o.n; j++) { float d = x[o.xIndex(row, j)] - mean; q += d * d; }
    float sd = std::sqrt(std::max(q / o.n, 1e-20f));
    const float* zr = z + o.zRow(row) * o.n;
    for (int64_t j = 0; j < o.n; j++) {
      int64_t i = o.xIndex(row, j);
      out[i] = x[i] - (zr[j] * sd + mean) * scale;
    }
  }
  return undefined(env);
}

// perturbBwd(x, z, dy, dx, B, T, H, G, hd, atOutput, paper, scale)
napi_value PerturbBwd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *x = a.f(0), *z = a.f(1), *dy = a.f(2);
  float* dx = a.f(3);
  Perturb o = perturbOf(a, 4);
  float scale = static_cast<float>(a.d(11));
#pragma omp parallel for schedule(static) if (worthThreads(o.rows))
  for (int64_t row = 0; row < o.rows; row++) {
    float s = 0;
    for (int64_t j = 0; j < o.n; j++) s += x[o.xIndex(row, j)];
    float mean = s / o.n, q = 0;
    for (int64_t j = 0; j < o.n; j++) { float d = x[o.xIndex(row, j)] - mean; q += d * d; }
    float variance = q / o.n;
    float sd = std::sqrt(std::max(variance, 1e-20f));
    const float* zr = z + o.zRow(row) * o.n;
    float dyz = 0, dysum = 0;
    for (int64_t j = 0; j < o.n; j++) { float g = dy[o.xIndex(row, j)]; dyz += g * zr[j]; dysum += g; }
    float through = variance >= 1e-20f ? dyz / (o.n * sd) : 0.0f;
    for (int64_t j = 0; j < o.n; j++) {
      int64_t i = o.xIndex(row, j);
      dx[i] = dy[i] - scale * (through * (x[i] - mean) + dysum / o.n);
    }
  }
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// Loss and optimizer (optimizer.ts)

// crossEntropy(logits, labels, stats, dlogits?, batch, classes, smoothing, gradScale (NaN: eval), micro)
napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* logits = a.f(0);
  const uint32_t* labels = a.u(1);
  float *stats = a.f(2), *dl = a.f(3);
  int64_t B = a.i(4), C = a.i(5);
  double sm = a.d(6), gs = a.d(7);
  bool train = !std::isnan(gs);
  uint32_t micro = a.u32(8);
  float on = static_cast<float>(1 - sm), off = static_cast<float>(sm / C), scale = static_cast<float>(gs);
  float loss = 0, hits = 0;
  for (int64_t b = 0; b < B; b++) {
    const float* l = logits + b * C;
    float top = l[0];
    int64_t arg = 0;
    for (int64_t c = 1; c < C; c++) if (l[c] > top) { top = l[c]; arg = c; }
    float s = 0;
    for (int64_t c = 0; c < C; c++) s += std::exp(l[c] - top);
    float lse = std::log(s);
    uint32_t label = labels[b];
    float row = 0;
    for (int64_t c = 0; c < C; c++) {
      float lp = l[c] - top - lse;
      float t = (static_cast<uint32_t>(c) == label ? on : 0.0f) + off;
      row -= t * lp;
      if (train && dl) dl[b * C + c] = (std::exp(lp) - t) * scale;
    }
    loss += row;
    hits += arg == static_cast<int64_t>(label) ? 1.0f : 0.0f;
  }
  if (train) {
    float keep = micro == 0 ? 0.0f : 1.0f;
    stats[0] = stats[0] * keep + loss * scale;
    stats[1] = stats[1] * keep + hits;
  } else {
    stats[0] = loss;
    stats[1] = hits;
  }
  return undefined(env);
}

// gradSumsq(grad, partial, count, index)
napi_value GradSumsq(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* g = a.f(0);
  float* partial = a.f(1);
  int64_t n = a.i(2);
  double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (worthThreads(n / 64))
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(g[i]) * g[i];
  partial[a.i(3)] = static_cast<float>(s);
  return undefined(env);
}

// gradNorm(partial, stats, params, clip (NaN: none))
napi_value GradNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* partial = a.f(0);
  float* stats = a.f(1);
  int64_t n = a.i(2);
  double clip = a.d(3);
  float total = 0;
  for (int64_t i = 0; i < n; i++) total += partial[i];
  float norm = std::sqrt(total);
  stats[2] = norm;
  stats[3] = std::isnan(clip) ? 1.0f : std::min(static_cast<float>(clip) / (norm + 1e-6f), 1.0f);
  return undefined(env);
}

inline bool finite(float x) { return std::isfinite(x); }

// adamw(p, grad, m, v, stats, count, beta1, beta2, eps, stepSize, bias2Sqrt, decay)
napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *p = a.f(0), *grad = a.f(1), *m = a.f(2), *v = a.f(3);
  const float* stats = a.f(4);
  int64_t n = a.i(5);
  double b1d = a.d(6), b2d = a.d(7);
  float b1 = static_cast<float>(b1d), omb1 = static_cast<float>(1 - b1d), b2 = static_cast<float>(b2d),
        omb2 = static_cast<float>(1 - b2d), eps = static_cast<float>(a.d(8)), stepSize = static_cast<float>(a.d(9)),
        bias2 = static_cast<float>(a.d(10)), decay = static_cast<float>(a.d(11));
  bool ok = finite(stats[2]);
  float coef = stats[3];
#pragma omp parallel for schedule(static) if (worthThreads(n / 1024))
  for (int64_t i = 0; i < n; i++) {
    if (ok) {
      float g = grad[i] * coef;
      float m1 = m[i] * b1 + g * omb1;
      float v1 = v[i] * b2 + (g * g) * omb2;
      m[i] = m1;
      v[i] = v1;
      float denom = std::sqrt(v1) / bias2 + eps;
      p[i] = p[i] * decay - (m1 / denom) * stepSize;
    }
    grad[i] = 0.0f;
  }
  return undefined(env);
}

// sgd(p, grad, buf?, stats, count, lr, weightDecay, momentum)
napi_value Sgd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *p = a.f(0), *grad = a.f(1), *buf = a.f(2);
  const float* stats = a.f(3);
  int64_t n = a.i(4);
  float lr = static_cast<float>(a.d(5)), wd = static_cast<float>(a.d(6)), mom = static_cast<float>(a.d(7));
  bool ok = finite(stats[2]);
  float coef = stats[3];
#pragma omp parallel for schedule(static) if (worthThreads(n / 1024))
  for (int64_t i = 0; i < n; i++) {
    if (ok) {
      float d = grad[i] * coef + p[i] * wd;
      if (buf) {
        float b = buf[i] * mom + d;
        buf[i] = b;
        p[i] = p[i] - b * lr;
      } else p[i] = p[i] - d * lr;
    }
    grad[i] = 0.0f;
  }
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------

/** The instruction set oneDNN dispatches its kernels to (after DNNL_MAX_CPU_ISA), as its verbose output names it. */
const char* isaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_all: return "all";
    default: return "unknown";
  }
}

// configure(threads?, gemm? (-1 measure, 0 oneDNN, 1 OpenBLAS)) -> { threads, onednn, openblas, openblasThreads, isa }
napi_value Configure(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (a.present(0)) {
    int t = static_cast<int>(a.d(0));
    if (t > 0) {
      omp_set_num_threads(t);
      openblas_set_num_threads(t);
    }
  }
  if (a.present(1)) {
    int g = static_cast<int>(a.d(1));
    if (g != forcedGemm) gemmPlans.clear();
    forcedGemm = g;
  }
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_int32(env, omp_get_max_threads(), &v);
  napi_set_named_property(env, o, "threads", v);
  const dnnl_version_t* ver = dnnl_version();
  std::string version = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
  napi_create_string_utf8(env, version.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "onednn", v);
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "openblas", v);
  napi_create_int32(env, openblas_get_num_threads(), &v);
  napi_set_named_property(env, o, "openblasThreads", v);
  napi_create_string_utf8(env, isaName(dnnl_get_effective_cpu_isa()), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "isa", v);
  return o;
}

napi_value Init(napi_env env, napi_value exports) {
  struct Fn { const char* name; napi_callback cb; };
  const Fn fns[] = {
    {"configure", Configure}, {"matmul", Matmul}, {"gemmChoices", GemmChoices},
    {"layernorm", LayerNorm}, {"layernormBwd", LayerNormBwd}, {"layernormBwdParams", LayerNormBwdParams},
    {"biasGrad", BiasGrad}, {"softmax", Softmax}, {"softmaxBwd", SoftmaxBwd},
    {"gelu", Gelu}, {"geluBwd", GeluBwd}, {"residual", Residual},
    {"patchify", Patchify}, {"embed", Embed}, {"embedBwd", EmbedBwd}, {"pool", Pool}, {"poolBwd", PoolBwd},
    {"attnScores", AttnScores}, {"attnAv", AttnAv}, {"attnDp", AttnDp}, {"attnDqkv", AttnDqkv}, {"keyStat", KeyStat},
    {"noise", Noise}, {"perturb", PerturbFwd}, {"perturbBwd", PerturbBwd},
    {"crossEntropy", CrossEntropy}, {"gradSumsq", GradSumsq}, {"gradNorm", GradNorm}, {"adamw", AdamW}, {"sgd", Sgd},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
