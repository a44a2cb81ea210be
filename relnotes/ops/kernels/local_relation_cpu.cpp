// The local relation op on the CPU, fused (LR-Net, arXiv:1904.11491, Eqs. (1)-(2)).
//
// Same math and layouts as relnotes/ops/local_relation.py (see its module docstring):
//   query [B, G, H', W'], key [B, G, H, W], value [B, C, H, W], prior [G, k, k], all contiguous;
//   channel c belongs to group c / m, m = ceil(C / G); output [B, C, H', W'].
//   logit(o, p') = Phi(q(p'), k(p)) + prior(g, o),  p = p' * s + (a - r, b - r),  o = a * k + b
//   w = softmax over the in-image p of the window (out-of-image p: weight exactly 0)
//   y(c, p') = sum_o w(o, p') x(c, p)
//
// Why it is fast where the PyTorch reference is not: the reference makes k^2 passes over
// whole [B, G, m, H', W'] tensors (each pass reads and writes the output from memory). Here one
// task owns one (b, g) plane, zero-padded and read as a flat array, so that every window offset
// is one shift of the whole plane and every loop is a long contiguous run that the compiler
// vectorises; with stride s the key and value planes are first split into s x s phase planes
// (pixels (s u + py, s v + px) for the phase (py, px)), so that a strided window offset is again
// one shift, in one phase plane (see "one (b, g) plane at a time" below). The exponential is a
// polynomial the compiler can vectorise too (float; double calls std::exp).
//
// Determinism: every output number (forward) and every gradient number (backward) is summed by
// one thread in a fixed order, so the result does not depend on the number of threads.
// A backward task owns a whole (b, g) plane and gathers its key and value gradients, so no two
// threads write the same number. The prior's gradient is written per (b, g) and summed over b
// by the caller.
//
// The forward pass saves the softmax's statistics (the maximum and 1 / sum of each output
// position: 2 numbers per position and group, 2 / m of the output); the backward pass recomputes
// the weights from them and the saved inputs (saving the weights would hold k^2 / m times the
// output, like the reference's saved weights). The other design, for the benchmark's comparison:
// given a `saved` array (lr_cpu_saved_weights_len numbers), the forward also writes the weights
// there, each plane in the backward's layout, and the backward reads them instead of computing
// them again: no exponentials in the backward, for that memory. The weights are the same
// numbers either way (the same operations on the same inputs), so are the results, bit for bit.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#include <omp.h>

namespace {

using i64 = std::int64_t;

// ---- phase timers: only in the profiling build (-DLR_CPU_PROFILE), which
// relnotes.analysis.lr_benchmark.op_phases uses to say where the op's time goes; in the op's
// own build LR_PHASE is nothing, so no instruction of the computation changes. ----------------
// Since 2026-12 two phases hold a little of their neighbours' work: F_PAD's narrowing of the
// output also divides it by the softmax's sum, and B_DW also sums the softmax backward's
// sum_window w dL/dw (KK multiply-adds per position, against KK * m for dL/dw itself).
enum Phase {
    F_PAD, F_WEIGHTS, F_AGGREGATE,                                       // forward
    B_PAD, B_WEIGHTS, B_DW, B_SOFTMAX_QUERY, B_PRIOR, B_KEY, B_VALUE, B_UNPAD,  // backward
    N_PHASES
};
#ifdef LR_CPU_PROFILE
double phase_seconds[N_PHASES];    // summed over threads (thread-seconds)
// One task's clock: lap(p) adds the time since the last lap (or the start) to phase p; the
// task's totals are added to phase_seconds when it ends.
struct PhaseClock {
    double last = omp_get_wtime(), local[N_PHASES] = {};
    void lap(Phase p) { const double t = omp_get_wtime(); local[p] += t - last; last = t; }
    ~PhaseClock() {
        for (int i = 0; i < N_PHASES; ++i) {
#pragma omp atomic
            phase_seconds[i] += local[i];
        }
    }
};
#define LR_PHASE_START PhaseClock phase_clock
#define LR_PHASE(p) phase_clock.lap(p)
#else
#define LR_PHASE_START ((void)0)
#define LR_PHASE(p) ((void)0)
#endif

// exp for x <= 0 (logit minus the row maximum), vectorisable: e^x = 2^n e^r with
// n = round(x / ln 2) and r = x - n ln 2, |r| <= ln2 / 2 (ln 2 in two parts, Cody-Waite), and
// e^r - 1 a degree-5 polynomial; the constants are those of Arm's optimized-routines v_expf
// (maximum error 1.45 + 0.5 ulp). n is rounded by adding 1.5 * 2^23 (the sum's low bits are n),
// and 2^n is built from those bits. Written as plain products and sums: the compiler fuses
// each into one multiply-add where the processor has them (-march=x86-64-v3) and vectorises.
inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;                        // so that 2^n >= 2^-126, a normal float
    const float shift = 0x1.8p23f;
    const float z = x * 0x1.715476p+0f + shift;         // x / ln 2 + 1.5 * 2^23
    const float n = z - shift;                          // round(x / ln 2)
    float r = x - n * 0x1.62e4p-1f;                     // x - n ln 2
    r = r - n * 0x1.7f7d1cp-20f;
    union { float f; std::uint32_t u; } scale;
    std::memcpy(&scale.u, &z, sizeof z);
    scale.u = (scale.u << 23) + 0x3f800000u;           // the bits of 2^n: n << 23, plus 1.0f's
    const float r2 = r * r;
    const float q = (0x1.0e4020p-7f * r + 0x1.573e2ep-5f) * r2 + (0x1.555e66p-3f * r + 0x1.fffdb6p-2f);
    const float poly = q * r2 + 0x1.ffffecp-1f * r;     // e^r - 1
    return poly * scale.f + scale.f;                    // 2^n e^r
}
inline double exp_nonpositive(double x) { return std::exp(x); }

enum Mode { SQUARED_DIFFERENCE = 0, DOT = 1, ABS_DIFFERENCE = 2 };

template <typename T>
inline T phi(T q, T k, int mode) {
    if (mode == SQUARED_DIFFERENCE) { T d = q - k; return -d * d; }
    if (mode == DOT) return q * k;
    return -std::fabs(q - k);
}

struct Shape {
    i64 B, G, C, H, W, Ho, Wo, K, S, m, r;
};


// ---- one (b, g) plane at a time, on zero-padded planes read as flat arrays ------------------
// Stride 1: with r zero rows above and below and r zero columns before each row (width
// Wp = W + r), output pixel (i, j) is flat index P = i * Wp + j and its window offset (a, b) is
// input P + a * Wp + b: one shift for the whole plane. A row needs r zeros on each side, and one
// run of r zeros serves as the right side of a row and the left side of the next (a window
// that leaves row i to the right reads the zeros before row i + 1). Stride s: input pixel
// (s u + py, s v + px) goes to phase plane (py, px) at (u, v); the window offset (a, b) of
// output (i, j) is input (s i + a - r, s j + b - r), in phase plane ((a - r) mod s,
// (b - r) mod s) at (i + da, j + db), da = floor((a - r) / s), so with the phase planes padded
// the same way by R = ceil(r / s) (width Wp = W' + R) it is again one shift, P + off(o)
// (off(o) includes the phase plane's start). Stride 1 is the case s = 1, R = r. (Until
// 2026-12, each row had its own R zeros on both sides, Wp = W' + 2R: R more columns computed
// and thrown away, the same sums otherwise, so the same results bit for bit.)
// So every loop below runs over the N = H' * Wp flat outputs (the Wp - W' extra columns of each
// row are computed and thrown away: dy is 0 there, so they add no gradient), long contiguous
// loops that the compiler vectorises. inside[P'] says whether padded pixel P' is in the image;
// outside, the weight is 0.
//
// Cache and dependencies (what the profile showed): the passes run over tiles of TILE flat
// outputs, so that the k^2 rows of a tile (k^2 x TILE numbers) stay in the L1 cache from one
// pass to the next; the backward pass gathers the key and value gradients (each target number
// sums its k^2 terms in a register-like running sum) instead of scattering them, since a scatter
// at offsets one number apart reloads what the previous offset has just stored; and the prior's
// gradient is summed in vectors (4 running sums side by side), since one sum at a time waits
// for each addition to finish; the multiply-add sums (Eq. (1) and its two gradients) keep
// 8 running sums of one vector each, so that a loaded factor serves 8 multiply-adds, and dL/dw
// keeps a vector of dy for each of the group's channels in registers for all k^2 offsets (one
// load per multiply-add; until 2026-12 it reloaded dy for every 4 offsets, and its phase took
// about 1.5 times as long).
// The gathers change no result: every number is the same sum in the same order as in the
// one-loop-per-pass form (stride 1) and the row-by-row scatter this file had for strides > 1
// (their gathers take the offsets in that scatter's order, window rows from the last). Three
// changes of 2026-12 round differently (within float's precision; the tests compare with the
// float64 reference): the exponential (below), the forward's division by the sum after the
// aggregation, and the prior's gradient summed in vectors (before: 8 offsets side by side, each
// a scalar sum in order of P, row by row for strides > 1).

struct Flat {
    i64 S, R, Wp, Hp, N, plane, len;  // stride, padding, padded sizes, outputs, phase plane, all
    i64 centre;                    // R * Wp + R: the padded index of output P is P + centre
    std::vector<i64> off;          // phase(o) * plane + (da + R) * Wp + (db + R), o = a * k + b
    std::vector<i64> offin;        // off(o) within its phase plane
    std::vector<i64> phase;        // the phase plane of offset o
    std::vector<std::vector<i64>> order;  // per phase plane: its offsets, in the gathers' order
    std::vector<unsigned char> inside;
    // inside as numbers, for branch-free loops: keep = 1 inside, 0 outside (times a weight);
    // lift = 0 inside, -inf outside (plus a logit, before the maximum)
    std::vector<float> keep_f, lift_f;
    std::vector<double> keep_d, lift_d;
    const float* keep(float) const { return keep_f.data(); }
    const double* keep(double) const { return keep_d.data(); }
    const float* lift(float) const { return lift_f.data(); }
    const double* lift(double) const { return lift_d.data(); }
};

inline i64 floor_div(i64 a, i64 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

Flat make_flat(const Shape& d) {
    Flat f;
    f.S = d.S; f.R = (d.r + d.S - 1) / d.S;
    f.Wp = d.Wo + f.R; f.Hp = d.Ho + 2 * f.R; f.N = d.Ho * f.Wp;
    f.plane = f.Hp * f.Wp;
    f.len = d.S * d.S * f.plane + 2 * f.R + 1;
    f.centre = f.R * f.Wp + f.R;
    f.order.resize(d.S * d.S);
    for (i64 a = 0; a < d.K; ++a)
        for (i64 b = 0; b < d.K; ++b) {
            const i64 da = floor_div(a - d.r, d.S), db = floor_div(b - d.r, d.S);
            const i64 ph = (a - d.r - d.S * da) * d.S + (b - d.r - d.S * db);
            f.offin.push_back((da + f.R) * f.Wp + db + f.R);
            f.off.push_back(ph * f.plane + f.offin.back());
            f.phase.push_back(ph);
        }
    // the gathers' order: offsets ascending (stride 1); window rows from the last, columns from
    // the first (strides > 1: the order in which the row-by-row scatter added them)
    for (i64 a = 0; a < d.K; ++a)
        for (i64 b = 0; b < d.K; ++b) {
            const i64 aa = d.S == 1 ? a : d.K - 1 - a, o = aa * d.K + b;
            f.order[f.phase[o]].push_back(o);
        }
    f.inside.assign(f.len, 0);
    for (i64 y = 0; y < d.H; ++y)
        for (i64 x = 0; x < d.W; ++x) {
            const i64 ph = (y % d.S) * d.S + x % d.S;
            f.inside[ph * f.plane + (y / d.S + f.R) * f.Wp + x / d.S + f.R] = 1;
        }
    for (unsigned char in : f.inside) {
        f.keep_f.push_back(in ? 1.0f : 0.0f);
        f.keep_d.push_back(in ? 1.0 : 0.0);
        f.lift_f.push_back(in ? 0.0f : -std::numeric_limits<float>::infinity());
        f.lift_d.push_back(in ? 0.0 : -std::numeric_limits<double>::infinity());
    }
    return f;
}

constexpr i64 TILE = 64;

// An input plane [H, W] into its zero-padded phase planes.
template <typename T>
inline void pad_plane(const T* src, T* dst, const Shape& d, const Flat& f) {
    std::fill(dst, dst + f.len, T(0));
    if (d.S == 1) {
        for (i64 y = 0; y < d.H; ++y)
            std::copy(src + y * d.W, src + (y + 1) * d.W, dst + (y + f.R) * f.Wp + f.R);
        return;
    }
    for (i64 y = 0; y < d.H; ++y) {
        const T* row = src + y * d.W;
        for (i64 px = 0; px < d.S; ++px) {
            T* out = dst + ((y % d.S) * d.S + px) * f.plane + (y / d.S + f.R) * f.Wp + f.R;
            for (i64 v = 0, x = px; x < d.W; ++v, x += d.S) out[v] = row[x];
        }
    }
}

// The phase planes' gradients [s * s, H' * Wp] (the padded planes' in-image part, from
// (R, R)) back to an input plane [H, W].
template <typename T>
inline void unphase_plane(const T* src, T* dst, const Shape& d, const Flat& f) {
    for (i64 y = 0; y < d.H; ++y) {
        T* row = dst + y * d.W;
        if (d.S == 1) { std::copy(src + y * f.Wp, src + y * f.Wp + d.W, row); continue; }
        for (i64 px = 0; px < d.S; ++px) {
            const T* in = src + ((y % d.S) * d.S + px) * f.N + (y / d.S) * f.Wp;
            for (i64 v = 0, x = px; x < d.W; ++v, x += d.S) row[x] = in[v];
        }
    }
}

// An output-grid plane [H', W'] in the flat layout [H', Wp] (zeros in the extra columns).
template <typename T>
inline void widen_plane(const T* src, T* dst, const Shape& d, const Flat& f) {
    std::fill(dst, dst + f.N, T(0));
    for (i64 i = 0; i < d.Ho; ++i)
        std::copy(src + i * d.Wo, src + (i + 1) * d.Wo, dst + i * f.Wp);
}

// The flat layout back to an output-grid plane (the extra columns dropped).
template <typename T>
inline void narrow_plane(const T* src, T* dst, const Shape& d, const Flat& f) {
    for (i64 i = 0; i < d.Ho; ++i)
        std::copy(src + i * f.Wp, src + i * f.Wp + d.Wo, dst + i * d.Wo);
}

// The same, each number times scale[P] (the softmax's 1 / sum, applied after the aggregation).
template <typename T>
inline void narrow_plane_scaled(const T* src, const T* scale, T* dst, const Shape& d,
                                const Flat& f) {
    for (i64 i = 0; i < d.Ho; ++i)
        for (i64 j = 0; j < d.Wo; ++j) dst[i * d.Wo + j] = src[i * f.Wp + j] * scale[i * f.Wp + j];
}

// dPhi/dq and dPhi/dk at (q, k).
template <int MODE, typename T>
inline void dphi(T qv, T kv, T& dq, T& dk) {
    if (MODE == SQUARED_DIFFERENCE) {           // Phi = -(q - k)^2
        dk = T(2) * (qv - kv); dq = -dk;
    } else if (MODE == DOT) {                   // Phi = q k
        dq = kv; dk = qv;
    } else {                                     // Phi = -|q - k|
        const T diff = qv - kv;
        dk = diff > 0 ? T(1) : (diff < 0 ? T(-1) : T(0)); dq = -dk;
    }
}

// The aggregation weights of plane (b, g) at the flat outputs [P0, P1) (LR Eq. (2)), not yet
// divided by their sum: exp(logit(o, P) - max) goes to wt[o * ws + P - P0], the maximum to
// mx[P] and 1 / sum to sum[P] (the forward multiplies the aggregated output by it, one
// multiplication per output number instead of one per weight). kpad, qv: the plane's padded key
// and widened query.
template <int MODE, typename T>
void weights_tile(const T* kpad, const T* qflat, const T* prior, i64 g, const Shape& d,
                  const Flat& f, i64 P0, i64 P1, T* wt, i64 ws, T* mx, T* sum) {
    const i64 KK = d.K * d.K, n = P1 - P0;
    const T* __restrict__ qv = qflat + P0;
    T* __restrict__ m = mx + P0;
    T* __restrict__ s = sum + P0;
    for (i64 j = 0; j < n; ++j) m[j] = -std::numeric_limits<T>::infinity();
    // logits Phi(q, k) + prior, and their maximum over the in-image window
    // (v + lift: v inside, -inf outside, which the maximum skips; the logits are finite)
    for (i64 o = 0; o < KK; ++o) {
        const T* __restrict__ kk = kpad + f.off[o] + P0;
        const T* __restrict__ lift = f.lift(T()) + f.off[o] + P0;
        const T pr = prior[g * KK + o];
        T* __restrict__ l = wt + o * ws;
        for (i64 j = 0; j < n; ++j) {
            const T v = phi(qv[j], kk[j], MODE) + pr;
            l[j] = v;
            m[j] = std::max(m[j], v + lift[j]);
        }
    }
    // softmax over the window; exactly 0 outside the image (e * keep: e, or 0)
    for (i64 j = 0; j < n; ++j) s[j] = T(0);
    for (i64 o = 0; o < KK; ++o) {
        const T* __restrict__ keep = f.keep(T()) + f.off[o] + P0;
        T* __restrict__ l = wt + o * ws;
        for (i64 j = 0; j < n; ++j) {
            const T e_in = exp_nonpositive(std::min(l[j] - m[j], T(0))) * keep[j];
            l[j] = e_in;
            s[j] += e_in;
        }
    }
    for (i64 j = 0; j < n; ++j) s[j] = s[j] > 0 ? T(1) / s[j] : T(0);  // 0: an extra column
}

// The weights, divided by their sum this time, from the softmax's statistics that weights_tile
// left in mx (the maximum) and sum (1 / sum) at [P0, P1): the same exponentials, without the
// passes that find the maximum and the sum.
template <int MODE, typename T>
void weights_tile_saved(const T* kpad, const T* qflat, const T* prior, i64 g, const Shape& d,
                        const Flat& f, i64 P0, i64 P1, T* wt, i64 ws, const T* mx,
                        const T* inv) {
    const i64 KK = d.K * d.K, n = P1 - P0;
    const T* __restrict__ qv = qflat + P0;
    const T* __restrict__ m = mx + P0;
    const T* __restrict__ s = inv + P0;
    for (i64 o = 0; o < KK; ++o) {
        const T* __restrict__ kk = kpad + f.off[o] + P0;
        const T* __restrict__ keep = f.keep(T()) + f.off[o] + P0;
        const T pr = prior[g * KK + o];
        T* __restrict__ l = wt + o * ws;
        for (i64 j = 0; j < n; ++j) {
            const T v = phi(qv[j], kk[j], MODE) + pr;
            const T e_in = exp_nonpositive(std::min(v - m[j], T(0))) * keep[j];
            l[j] = e_in * s[j];
        }
    }
}

// Vectors of 32 bytes (GCC's vector extension; AVX registers where the processor has them), so
// that a running sum stays in a register while its terms are added (written as loops over
// arrays, the compiler turned them around and summed one number at a time).
template <typename T> struct VecOf;
template <> struct VecOf<float> { typedef float type __attribute__((vector_size(32))); };
template <> struct VecOf<double> { typedef double type __attribute__((vector_size(32))); };
template <typename T> using Vec = typename VecOf<T>::type;
template <typename T> inline Vec<T> load(const T* p) {
    Vec<T> v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <typename T> inline void store(T* p, const Vec<T>& v) { std::memcpy(p, &v, sizeof v); }

// Sums kept in registers: 2 vectors of positions (CH = 2 * lanes numbers) per sum.
template <typename T> constexpr int lanes() { return int(32 / sizeof(T)); }
template <typename T> constexpr int chunk() { return 2 * lanes<T>(); }

// NU sums that share their first factors: out_u[j] = sum over t < nterms of
// a_t[j] * b_t[boff[u] + j], u < NU (channels sharing a weight, or offsets sharing a channel),
// j < V * lanes, each a running sum from 0 in order of t; NU x V vectors in registers, a_t
// loaded once for all; terms(t, a_t, b_t) gives the pointers.
template <int NU, int V, typename T, typename Terms>
inline void chunk_multi(T* out, i64 ostride, const i64* boff, i64 nterms, Terms terms) {
    constexpr int L = lanes<T>();
    Vec<T> s[NU][V];
    for (int u = 0; u < NU; ++u)
        for (int v = 0; v < V; ++v) s[u][v] = Vec<T>{};
    for (i64 t = 0; t < nterms; ++t) {
        const T* a;
        const T* b;
        terms(t, a, b);
        Vec<T> av[V];
        for (int v = 0; v < V; ++v) av[v] = load(a + v * L);
        for (int u = 0; u < NU; ++u)
            for (int v = 0; v < V; ++v) s[u][v] += av[v] * load(b + boff[u] + v * L);
    }
    for (int u = 0; u < NU; ++u)
        for (int v = 0; v < V; ++v) store(out + u * ostride + v * L, s[u][v]);
}  // chunk_multi

template <typename T, typename Terms>
inline void chunk_multi_rest(T* out, i64 ostride, const i64* boff, i64 nu, i64 n, i64 nterms,
                             Terms terms) {
    for (i64 u = 0; u < nu; ++u) {
        T acc[chunk<T>()];
        for (i64 j = 0; j < n; ++j) acc[j] = T(0);
        for (i64 t = 0; t < nterms; ++t) {
            const T* a;
            const T* b;
            terms(t, a, b);
            for (i64 j = 0; j < n; ++j) acc[j] += a[j] * b[boff[u] + j];
        }
        for (i64 j = 0; j < n; ++j) out[u * ostride + j] = acc[j];
    }
}

// chunk_multi over nu sums and the positions [P0, P1): 4 sums and 2 vectors of positions at a
// time; terms(t, P, a_t, b_t) gives the pointers at position P.
template <typename T, typename Terms>
inline void sum_multi(T* out, i64 ostride, const i64* boff, i64 nu, i64 P0, i64 P1, i64 nterms,
                      Terms terms) {
    constexpr int CH = chunk<T>();
    for (i64 u = 0; u < nu; u += 4) {
        const i64 k = std::min<i64>(4, nu - u);
        T* o = out + u * ostride;
        const i64* bo = boff + u;
        i64 P = P0;
        for (; P + CH <= P1; P += CH) {
            auto at = [&](i64 t, const T*& a, const T*& b) { terms(t, P, a, b); };
            switch (k) {
                case 4: chunk_multi<4, 2>(o + P, ostride, bo, nterms, at); break;
                case 3: chunk_multi<3, 2>(o + P, ostride, bo, nterms, at); break;
                case 2: chunk_multi<2, 2>(o + P, ostride, bo, nterms, at); break;
                default: chunk_multi<1, 2>(o + P, ostride, bo, nterms, at); break;
            }
        }
        if (P < P1)
            chunk_multi_rest(o + P, ostride, bo, k, P1 - P, nterms,
                             [&](i64 t, const T*& a, const T*& b) { terms(t, P, a, b); });
    }
}

// sum_multi with 8 sums of one vector at a time (more sums share each loaded a_t; then 4 x 2
// vectors for the rest of the sums)
template <typename T, typename Terms>
inline void sum_multi8(T* out, i64 ostride, const i64* boff, i64 nu, i64 P0, i64 P1, i64 nterms,
                       Terms terms) {
    constexpr int L = lanes<T>();
    i64 u = 0;
    for (; u + 8 <= nu; u += 8) {
        T* o = out + u * ostride;
        const i64* bo = boff + u;
        i64 P = P0;
        for (; P + L <= P1; P += L)
            chunk_multi<8, 1>(o + P, ostride, bo, nterms,
                            [&](i64 t, const T*& a, const T*& b) { terms(t, P, a, b); });
        if (P < P1)
            chunk_multi_rest(o + P, ostride, bo, 8, P1 - P, nterms,
                             [&](i64 t, const T*& a, const T*& b) { terms(t, P, a, b); });
    }
    if (u < nu) sum_multi(out + u * ostride, ostride, boff + u, nu - u, P0, P1, nterms, terms);
}

// dL/dw(o, P) = sum_c dy(c, P) x(c, P + off(o)) for all offsets o and the positions [P0, P1),
// NC channels: per vector of positions, the NC dy vectors stay in registers for all offsets
// (each sum from 0, channel after channel, as sum_multi adds them). Also the softmax backward's
// ss(P) = sum_o w(o, P) dL/dw(o, P), offset after offset, as each dL/dw(o, P) is made (wt: the
// weights, stride N like gwt).
template <int NC, typename T>
void dw_tile(T* gwt, i64 N, const i64* off, i64 KK, i64 P0, i64 P1, const T* dy, i64 dys,
             const T* x, i64 xs, const T* wt, T* ss) {
    constexpr int L = lanes<T>();
    i64 P = P0;
    for (; P + L <= P1; P += L) {
        Vec<T> dv[NC];
        for (int c = 0; c < NC; ++c) dv[c] = load(dy + c * dys + P);
        Vec<T> sw = Vec<T>{};
        for (i64 o = 0; o < KK; ++o) {
            const T* xb = x + off[o] + P;
            Vec<T> s = Vec<T>{};
            for (int c = 0; c < NC; ++c) s += dv[c] * load(xb + c * xs);
            store(gwt + o * N + P, s);
            sw += load(wt + o * N + P) * s;
        }
        store(ss + P, sw);
    }
    for (; P < P1; ++P) {
        T sw = T(0);
        for (i64 o = 0; o < KK; ++o) {
            T s = T(0);
            for (int c = 0; c < NC; ++c) s += dy[c * dys + P] * x[c * xs + off[o] + P];
            gwt[o * N + P] = s;
            sw += wt[o * N + P] * s;
        }
        ss[P] = sw;
    }
}

template <int MODE, typename T>
void forward_flat(const T* q, const T* key, const T* x, const T* prior, T* y, T* stats,
                  T* saved, const Shape& d, int threads) {
    const i64 KK = d.K * d.K;
    const Flat f = make_flat(d);
    const i64 N = f.N;
    const i64 tasks = d.B * d.G;
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> kp(f.len), xp(d.m * f.len), qf(N), acc(d.m * N), w(KK * TILE);
        std::vector<i64> xoff(d.m);                 // channel ci's padded plane in xp
        for (i64 ci = 0; ci < d.m; ++ci) xoff[ci] = ci * f.len;
#pragma omp for schedule(dynamic, 1)
        for (i64 bg = 0; bg < tasks; ++bg) {
            const i64 g = bg % d.G, bb = bg / d.G;
            const i64 c0 = g * d.m, nc = std::min((g + 1) * d.m, d.C) - c0;
            // the softmax's statistics of this plane, kept for the backward pass
            T* mx = stats + bg * 2 * N;
            T* sum = mx + N;
            LR_PHASE_START;
            pad_plane(key + bg * d.H * d.W, kp.data(), d, f);
            widen_plane(q + bg * d.Ho * d.Wo, qf.data(), d, f);
            for (i64 ci = 0; ci < nc; ++ci)
                pad_plane(x + (bb * d.C + c0 + ci) * d.H * d.W, xp.data() + ci * f.len, d, f);
            LR_PHASE(F_PAD);
            T* __restrict__ wt = w.data();                               // [k*k, TILE]
            // the other design: this plane's weights [k*k, N] in `saved`, between margins of
            // f.centre zeros (the layout of the backward's weights, below)
            T* sv = saved ? saved + bg * (KK * N + 2 * f.centre) : nullptr;
            if (sv) {
                std::fill(sv, sv + f.centre, T(0));
                std::fill(sv + f.centre + KK * N, sv + 2 * f.centre + KK * N, T(0));
                sv += f.centre;
            }
            for (i64 P0 = 0; P0 < N; P0 += TILE) {
                const i64 P1 = std::min(N, P0 + TILE);
                weights_tile<MODE>(kp.data(), qf.data(), prior, g, d, f, P0, P1, wt, TILE, mx,
                                   sum);
                if (sv)    // w = e / sum, as weights_tile_saved computes it
                    for (i64 o = 0; o < KK; ++o) {
                        const T* __restrict__ e = wt + o * TILE;
                        const T* __restrict__ inv = sum + P0;
                        T* __restrict__ out = sv + o * N + P0;
                        for (i64 j = 0; j < P1 - P0; ++j) out[j] = e[j] * inv[j];
                    }
                LR_PHASE(F_WEIGHTS);
                // LR Eq. (1): y(c, P) = sum_o w(o, P) x(c, P + off(o)), for the group's channels
                // (summed with the undivided weights; the division by their sum comes below)
                sum_multi8(acc.data(), N, xoff.data(), nc, P0, P1, KK,
                          [&](i64 o, i64 P, const T*& a, const T*& b) {
                              a = wt + o * TILE + (P - P0);
                              b = xp.data() + f.off[o] + P;
                          });
                LR_PHASE(F_AGGREGATE);
            }
            // y = (sum_o e(o, P) x(c, P + off(o))) / sum_o e(o, P)
            for (i64 ci = 0; ci < nc; ++ci)
                narrow_plane_scaled(acc.data() + ci * N, sum, y + (bb * d.C + c0 + ci) * d.Ho * d.Wo,
                                    d, f);
            LR_PHASE(F_PAD);
        }
    }
}

// The sum of row[0, n): four vector running sums side by side, then their lanes, then the rest.
template <typename T>
inline T plane_sum(const T* __restrict__ row, i64 n) {
    constexpr int L = lanes<T>();
    Vec<T> s0{}, s1{}, s2{}, s3{};
    i64 P = 0;
    for (; P + 4 * L <= n; P += 4 * L) {
        s0 += load(row + P); s1 += load(row + P + L);
        s2 += load(row + P + 2 * L); s3 += load(row + P + 3 * L);
    }
    const Vec<T> s = (s0 + s1) + (s2 + s3);
    T total = T(0);
    for (int j = 0; j < L; ++j) total += s[j];
    for (; P < n; ++P) total += row[P];
    return total;
}

// The query's and the key's gradients through Phi. Each term gl * dPhi is added to a sum held in
// memory; g++ contracts such a product and sum into one fused multiply-add (one rounding), as in
// the one-loop-per-pass form of stride 1, while the row-by-row form of strides > 1 rounded the
// product first. So the same loops are compiled twice, the second time without contraction
// (the *_rounded functions), and each stride gets the rounding its form had.
#define LR_QUERY_GRAD_BODY                                                                    \
    for (i64 o = 0; o < KK; ++o) {                                                            \
        const T* __restrict__ wo = wt + o * N;                                                \
        T* __restrict__ gwo = gwt + o * N;                                                    \
        const T* __restrict__ kk = kpv + off[o];                                              \
        const T* __restrict__ sv = ss;                                                        \
        T* __restrict__ gv = gqv;                                                             \
        for (i64 P = P0; P < P1; ++P) {                                                       \
            const T gl = wo[P] * (gwo[P] - sv[P]);                                            \
            gwo[P] = gl;                                                                      \
            T dq, dk;                                                                         \
            dphi<MODE>(qv[P], kk[P], dq, dk);                                                 \
            gv[P] += gl * dq;                                                                 \
        }                                                                                     \
    }
// dL/dk(Q + centre) = sum_o dL/dlogit(o, P) dk(o, P), P = Q + centre - off(o) in [0, N), for
// the targets Q of phase plane ph, its offsets in the gathers' order
#define LR_KEY_GRAD_BODY                                                                      \
    for (const i64 oo : f.order[ph]) {                                                        \
        const i64 D = f.centre - f.offin[oo];                                                 \
        const i64 lo = std::max<i64>(0, -D), hi = std::min(N, N - D);                         \
        const T* __restrict__ glo = gwt + oo * N + D;                                         \
        const T* __restrict__ qq = qv + D;                                                    \
        const T* __restrict__ kk = kpv + ph * f.plane + f.centre;                             \
        T* __restrict__ gv = gkv;                                                             \
        for (i64 Q = lo; Q < hi; ++Q) {                                                       \
            T dq, dk;                                                                         \
            dphi<MODE>(qq[Q], kk[Q], dq, dk);                                                 \
            gv[Q] += glo[Q] * dk;                                                             \
        }                                                                                     \
    }
#define LR_QUERY_GRAD_ARGS                                                                    \
    const T* wt, T* gwt, const T* ss, const T* qv, const T* kpv, const i64* off, i64 KK, i64 N, \
        i64 P0, i64 P1, T* gqv
#define LR_KEY_GRAD_ARGS                                                                      \
    const T* gwt, const T* qv, const T* kpv, const Flat& f, i64 ph, i64 N, T* gkv

template <int MODE, typename T> __attribute__((noinline)) void query_grad(LR_QUERY_GRAD_ARGS) { LR_QUERY_GRAD_BODY }
template <int MODE, typename T> __attribute__((noinline)) void key_grad(LR_KEY_GRAD_ARGS) { LR_KEY_GRAD_BODY }
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
template <int MODE, typename T> __attribute__((noinline)) void query_grad_rounded(LR_QUERY_GRAD_ARGS) { LR_QUERY_GRAD_BODY }
template <int MODE, typename T> __attribute__((noinline)) void key_grad_rounded(LR_KEY_GRAD_ARGS) { LR_KEY_GRAD_BODY }
#pragma GCC pop_options

template <int MODE, typename T>
void backward_flat(const T* dy, const T* q, const T* key, const T* x, const T* prior,
                   const T* stats, const T* saved, T* gq, T* gk, T* gx, T* gprior,
                   const Shape& d, int threads) {
    const i64 KK = d.K * d.K, SS = d.S * d.S;
    const Flat f = make_flat(d);
    const i64 N = f.N;
    const i64 tasks = d.B * d.G;
#pragma omp parallel num_threads(threads)
    {
        // dy's planes and the weights have a margin of f.centre zeros before and after (read by
        // the value's gather at the border, where they add nothing)
        const i64 Nd = N + 2 * f.centre;
        std::vector<T> kp(f.len), xp(d.m * f.len), qf(N), dyf(d.m * Nd, T(0)), s(N), gqa(N),
            gka(SS * N), gxa(d.m * SS * N), w(KK * N + 2 * f.centre, T(0)), gw(KK * N);
        auto dyc = [&](i64 ci) { return dyf.data() + ci * Nd + f.centre; };
        std::vector<i64> dyoff(d.m);                // channel ci's plane in dyf, from channel 0's
        for (i64 ci = 0; ci < d.m; ++ci) dyoff[ci] = ci * Nd;
#pragma omp for schedule(dynamic, 1)
        for (i64 bg = 0; bg < tasks; ++bg) {
            const i64 g = bg % d.G, bb = bg / d.G;
            const i64 c0 = g * d.m, nc = std::min((g + 1) * d.m, d.C) - c0;
            const T* mx = stats + bg * 2 * N;
            const T* inv = mx + N;
            LR_PHASE_START;
            pad_plane(key + bg * d.H * d.W, kp.data(), d, f);
            widen_plane(q + bg * d.Ho * d.Wo, qf.data(), d, f);
            for (i64 ci = 0; ci < nc; ++ci) {
                pad_plane(x + (bb * d.C + c0 + ci) * d.H * d.W, xp.data() + ci * f.len, d, f);
                widen_plane(dy + (bb * d.C + c0 + ci) * d.Ho * d.Wo, dyc(ci), d, f);
            }
            const T* __restrict__ qv = qf.data();
            const T* __restrict__ kpv = kp.data();
            // the weights: computed below into w, or (the other design) the forward's, read
            T* __restrict__ wt = saved ? const_cast<T*>(saved) + bg * (KK * N + 2 * f.centre)
                                             + f.centre
                                       : w.data() + f.centre;
            T* __restrict__ gwt = gw.data();
            T* __restrict__ gqv = gqa.data();
            std::fill(gqa.begin(), gqa.end(), T(0));
            LR_PHASE(B_PAD);
            for (i64 P0 = 0; P0 < N; P0 += TILE) {
                const i64 P1 = std::min(N, P0 + TILE);
                // the weights again, from the forward's statistics (unless the forward saved
                // them: k^2 / m times the output)
                if (!saved)
                    weights_tile_saved<MODE>(kpv, qv, prior, g, d, f, P0, P1, wt + P0, N, mx, inv);
                LR_PHASE(B_WEIGHTS);
                // Eq. (1) backward: dL/dw(o, P) = sum_c dy(c, P) x(c, P + off(o)); and the
                // softmax backward's sum_window w dL/dw, into ss (with up to 8 channels, as each
                // dL/dw(o, P) is made)
                T* __restrict__ ss = s.data();
                switch (nc) {
#define LR_DW(NC) case NC: dw_tile<NC>(gwt, N, f.off.data(), KK, P0, P1, dyc(0), Nd, xp.data(), f.len, wt, ss); break;
                    LR_DW(1) LR_DW(2) LR_DW(3) LR_DW(4) LR_DW(5) LR_DW(6) LR_DW(7) LR_DW(8)
#undef LR_DW
                    default:  // more than 8 channels in a group: 8 sums (offsets) at a time
                        sum_multi8(gwt, N, f.off.data(), KK, P0, P1, nc,
                                   [&](i64 ci, i64 P, const T*& a, const T*& b) {
                                       a = dyc(ci) + P;
                                       b = xp.data() + ci * f.len + P;
                                   });
                        for (i64 P = P0; P < P1; ++P) ss[P] = T(0);
                        for (i64 o = 0; o < KK; ++o) {
                            const T* __restrict__ wo = wt + o * N;
                            const T* __restrict__ gwo = gwt + o * N;
                            for (i64 P = P0; P < P1; ++P) ss[P] += wo[P] * gwo[P];
                        }
                }
                LR_PHASE(B_DW);
                // softmax backward: dL/dlogit = w (dL/dw - sum_window w dL/dw), kept in gw (in
                // the query's pass below)
                // Eq. (2) backward, the query through Phi
                if (f.S == 1) query_grad<MODE>(wt, gwt, ss, qv, kpv, f.off.data(), KK, N, P0, P1, gqv);
                else query_grad_rounded<MODE>(wt, gwt, ss, qv, kpv, f.off.data(), KK, N, P0, P1, gqv);
                LR_PHASE(B_SOFTMAX_QUERY);
            }
            // the prior: dL/dprior(o) = sum_P dL/dlogit(o, P) (0 in the extra columns, where
            // dy is 0, so the whole flat plane can be summed)
            T* gp = gprior + bg * KK;
            for (i64 o = 0; o < KK; ++o) gp[o] = plane_sum(gwt + o * N, N);
            LR_PHASE(B_PRIOR);
            for (i64 ph = 0; ph < SS; ++ph) {
                const std::vector<i64>& ord = f.order[ph];
                // the key through Phi, gathered: dL/dk(Q + centre) = sum_o dL/dlogit(o, P)
                // dk(o, P) with P = Q + centre - off(o) in [0, N), Q in phase plane ph
                T* __restrict__ gkv = gka.data() + ph * N;
                std::fill(gkv, gkv + N, T(0));
                if (f.S == 1) key_grad<MODE>(gwt, qv, kpv, f, ph, N, gkv);
                else key_grad_rounded<MODE>(gwt, qv, kpv, f, ph, N, gkv);
                LR_PHASE(B_KEY);
                // Eq. (1) backward, the value, gathered: dL/dx(c, Q + centre) = sum_o w(o, P)
                // dy(c, P) (all Q in [0, N) and all o of the phase: a P outside [0, N) reads a
                // zero of dy's margins, and adding the product 0 leaves the sum as it is)
                sum_multi8(gxa.data() + ph * N, SS * N, dyoff.data(), nc, 0, N,
                          static_cast<i64>(ord.size()),
                          [&](i64 t, i64 Q, const T*& u, const T*& v) {
                              const i64 P = Q + f.centre - f.offin[ord[t]];
                              u = wt + ord[t] * N + P;
                              v = dyc(0) + P;
                          });
                LR_PHASE(B_VALUE);
            }
            for (i64 ci = 0; ci < nc; ++ci)
                unphase_plane(gxa.data() + ci * SS * N, gx + (bb * d.C + c0 + ci) * d.H * d.W,
                              d, f);
            narrow_plane(gqv, gq + bg * d.Ho * d.Wo, d, f);
            unphase_plane(gka.data(), gk + bg * d.H * d.W, d, f);
            LR_PHASE(B_UNPAD);
        }
    }
}

Shape make_shape(i64 B, i64 G, i64 C, i64 H, i64 W, i64 Ho, i64 Wo, i64 K, i64 S) {
    return {B, G, C, H, W, Ho, Wo, K, S, (C + G - 1) / G, K / 2};
}

// The paths with the composability as a compile-time constant (so that each pass is one
// vectorised loop).
template <typename T>
void forward_any(const T* q, const T* key, const T* x, const T* prior, T* y, T* stats,
                 T* saved, const Shape& d, int mode, int threads) {
    if (mode == SQUARED_DIFFERENCE)
        forward_flat<SQUARED_DIFFERENCE>(q, key, x, prior, y, stats, saved, d, threads);
    else if (mode == DOT) forward_flat<DOT>(q, key, x, prior, y, stats, saved, d, threads);
    else forward_flat<ABS_DIFFERENCE>(q, key, x, prior, y, stats, saved, d, threads);
}

template <typename T>
void backward_any(const T* dy, const T* q, const T* key, const T* x, const T* prior,
                  const T* stats, const T* saved, T* gq, T* gk, T* gx, T* gprior,
                  const Shape& d, int mode, int threads) {
    if (mode == SQUARED_DIFFERENCE)
        backward_flat<SQUARED_DIFFERENCE>(dy, q, key, x, prior, stats, saved, gq, gk, gx,
                                          gprior, d, threads);
    else if (mode == DOT)
        backward_flat<DOT>(dy, q, key, x, prior, stats, saved, gq, gk, gx, gprior, d, threads);
    else backward_flat<ABS_DIFFERENCE>(dy, q, key, x, prior, stats, saved, gq, gk, gx, gprior,
                                       d, threads);
}

}  // namespace

#ifdef LR_CPU_PROFILE
// The phase timers' totals (thread-seconds, in the order of enum Phase) into out[N_PHASES], then
// zeroed; returns N_PHASES. Only in the profiling build.
extern "C" int lr_cpu_phase_seconds(double* out) {
    for (int i = 0; i < N_PHASES; ++i) { out[i] = phase_seconds[i]; phase_seconds[i] = 0; }
    return N_PHASES;
}
#endif

// Numbers of the softmax's statistics the forward pass saves: 2 per flat output of each plane.
extern "C" std::int64_t lr_cpu_stats_len(i64 B, i64 G, i64 H, i64 W, i64 Ho, i64 Wo, i64 K,
                                         i64 S) {
    const Shape d = make_shape(B, G, G, H, W, Ho, Wo, K, S);
    const i64 R = (d.r + S - 1) / S;
    return B * G * 2 * Ho * (Wo + R);
}

// Numbers of the weights the forward saves for the backward in the other design (`saved`, may be
// null: the backward recomputes them): k^2 per flat output of each plane, and 2 * centre zeros.
extern "C" std::int64_t lr_cpu_saved_weights_len(i64 B, i64 G, i64 H, i64 W, i64 Ho, i64 Wo,
                                                 i64 K, i64 S) {
    const Flat f = make_flat(make_shape(B, G, G, H, W, Ho, Wo, K, S));
    return B * G * (K * K * f.N + 2 * f.centre);
}

#define LR_EXPORT(T, suffix)                                                                  \
    extern "C" void lr_cpu_forward_##suffix(const T* q, const T* key, const T* x,            \
                                            const T* prior, T* y, T* stats, T* saved,         \
                                            i64 B, i64 G,                                     \
                                            i64 C, i64 H, i64 W, i64 Ho, i64 Wo, i64 K,       \
                                            i64 S, int mode, int threads) {                   \
        const Shape d = make_shape(B, G, C, H, W, Ho, Wo, K, S);                              \
        forward_any<T>(q, key, x, prior, y, stats, saved, d, mode, threads);                  \
    }                                                                                         \
    extern "C" void lr_cpu_backward_##suffix(const T* dy, const T* q, const T* key,          \
                                             const T* x, const T* prior, const T* stats,      \
                                             const T* saved, T* gq, T* gk, T* gx,             \
                                             T* gprior, i64 B, i64 G,                         \
                                             i64 C, i64 H, i64 W, i64 Ho, i64 Wo, i64 K,      \
                                             i64 S, int mode, int threads) {                  \
        const Shape d = make_shape(B, G, C, H, W, Ho, Wo, K, S);                              \
        backward_any<T>(dy, q, key, x, prior, stats, saved, gq, gk, gx, gprior, d, mode,      \
                        threads);                                                             \
    }

LR_EXPORT(float, float)
LR_EXPORT(double, double)

// The throughput of this build's float exponential (exp_nonpositive, as the op calls it), for the
// benchmark's floor (relnotes.analysis.lr_benchmark.exp_throughput): each of `threads` threads
// adds exp(x[i] + shift_r) for its n arguments (cache-resident), reps times with another shift
// each time, so nothing can be hoisted; out[t] gets thread t's sum (so the work is not dropped).
// Returns the number of exponentials computed. Not used by the op.
extern "C" std::int64_t lr_cpu_exp_sums_float(const float* x, i64 n, i64 reps, int threads,
                                                float* out) {
#pragma omp parallel num_threads(threads)
    {
        std::vector<float> acc(static_cast<std::size_t>(n), 0.0f);
        float* __restrict__ a = acc.data();
        const float* __restrict__ xv = x;
        for (i64 r = 0; r < reps; ++r) {
            const float shift = -1e-6f * static_cast<float>(r);
            for (i64 i = 0; i < n; ++i) a[i] += exp_nonpositive(std::min(xv[i] + shift, 0.0f));
        }
        float total = 0.0f;
        for (i64 i = 0; i < n; ++i) total += a[i];
        out[omp_get_thread_num()] = total;
    }
    return n * reps * static_cast<i64>(threads);
}
