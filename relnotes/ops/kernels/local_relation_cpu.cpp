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
// task owns one output row (b, g, i) and keeps its k^2 x W' logits and the m output rows in the
// cache while it sums over the window; the inner loop runs along the row (contiguous for
// stride 1), which the compiler vectorises, and the exponential is a polynomial it can
// vectorise too (float; double calls std::exp).
//
// Determinism: every output number (forward) and every gradient number (backward) is summed by
// one thread in a fixed order, so the result does not depend on the number of threads.
// The backward scatters into the key and value gradients, so a backward task owns a whole
// (b, g) plane: no two threads write the same number. The prior's gradient is written per
// (b, g) and summed over b by the caller.
//
// The weights are saved for the backward pass in the layout [B, G, H', k*k, W'] (one task's
// rows side by side), k^2 / m times the output, like the reference's saved weights.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

using i64 = std::int64_t;

// exp for x <= 0 (logit minus the row maximum), vectorisable: Cephes' expf polynomial after
// the reduction x = n ln2 + t, |t| <= ln2 / 2; relative error about 1e-7 (float's precision).
inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;                       // exp(-87) ~ 1.6e-38 > FLT_MIN
    float n = std::floor(x * 1.44269504088896341f + 0.5f);
    float t = x - n * 0.693359375f;                     // ln2 in two parts (Cody-Waite)
    t = t - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * t + 1.3981999507e-3f;
    p = p * t + 8.3334519073e-3f;
    p = p * t + 4.1665795894e-2f;
    p = p * t + 1.6666665459e-1f;
    p = p * t + 5.0000001201e-1f;
    p = p * t * t + t + 1.0f;
    union { std::int32_t i; float f; } scale;           // 2^n, n >= -126
    scale.i = (static_cast<std::int32_t>(n) + 127) << 23;
    return p * scale.f;
}
inline double exp_nonpositive(double x) { return std::exp(x); }

enum Mode { SQUARED_DIFFERENCE = 0, DOT = 1, ABS_DIFFERENCE = 2 };

template <typename T>
inline T phi(T q, T k, int mode) {
    if (mode == SQUARED_DIFFERENCE) { T d = q - k; return -d * d; }
    if (mode == DOT) return q * k;
    return -std::fabs(q - k);
}

// The columns j of an output row whose window column b (0 <= b < k) lies inside the image:
// 0 <= j * s + b - r < W  <=>  j in [lo, hi).
struct Columns { i64 lo, hi; };
inline Columns columns(i64 b, i64 r, i64 s, i64 W, i64 Wo) {
    i64 lo = b >= r ? 0 : (r - b + s - 1) / s;
    i64 hi = (W - 1 + r - b) >= 0 ? (W - 1 + r - b) / s + 1 : 0;
    return {std::min(lo, Wo), std::max(std::min(hi, Wo), std::min(lo, Wo))};
}

struct Shape {
    i64 B, G, C, H, W, Ho, Wo, K, S, m, r;
};

// The aggregation weights of output row (b, g, i): wt[o * W' + j] (LR Eq. (2)), zero outside
// the image. mx, sum: per-thread work buffers of W'.
template <typename T>
void weights_row(const T* q, const T* key, const T* prior, i64 bg, i64 i, const Shape& d,
                 const std::vector<Columns>& cols, int mode, T* wt, T* mx, T* sum) {
    const i64 KK = d.K * d.K, g = bg % d.G;
    const T* qrow = q + (bg * d.Ho + i) * d.Wo;
    std::fill(wt, wt + KK * d.Wo, T(0));
    std::fill(mx, mx + d.Wo, -std::numeric_limits<T>::infinity());
    // the logits, and their maximum over the window
    for (i64 a = 0; a < d.K; ++a) {
        const i64 yy = i * d.S + a - d.r;
        if (yy < 0 || yy >= d.H) continue;
        const T* krow = key + (bg * d.H + yy) * d.W;
        for (i64 b = 0; b < d.K; ++b) {
            const i64 o = a * d.K + b;
            const T pr = prior[g * KK + o];
            T* lrow = wt + o * d.Wo;
            const T* kk = krow + b - d.r;
            for (i64 j = cols[b].lo; j < cols[b].hi; ++j) {
                const T l = phi(qrow[j], kk[j * d.S], mode) + pr;
                lrow[j] = l;
                mx[j] = std::max(mx[j], l);
            }
        }
    }
    // the softmax over the in-image neighbours (the centre always is)
    std::fill(sum, sum + d.Wo, T(0));
    for (i64 a = 0; a < d.K; ++a) {
        const i64 yy = i * d.S + a - d.r;
        if (yy < 0 || yy >= d.H) continue;
        for (i64 b = 0; b < d.K; ++b) {
            T* lrow = wt + (a * d.K + b) * d.Wo;
            for (i64 j = cols[b].lo; j < cols[b].hi; ++j) {
                const T e = exp_nonpositive(std::min(lrow[j] - mx[j], T(0)));
                lrow[j] = e;
                sum[j] += e;
            }
        }
    }
    for (i64 j = 0; j < d.Wo; ++j) sum[j] = T(1) / sum[j];
    for (i64 o = 0; o < KK; ++o) {
        T* lrow = wt + o * d.Wo;
        for (i64 j = 0; j < d.Wo; ++j) lrow[j] *= sum[j];
    }
}

template <typename T>
void forward(const T* q, const T* key, const T* x, const T* prior, T* y,
             const Shape& d, int mode, int threads) {
    const i64 KK = d.K * d.K;
    std::vector<Columns> cols(d.K);
    for (i64 b = 0; b < d.K; ++b) cols[b] = columns(b, d.r, d.S, d.W, d.Wo);
    const i64 tasks = d.B * d.G * d.Ho;
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> mx(d.Wo), sum(d.Wo), w(KK * d.Wo);
#pragma omp for schedule(static)
        for (i64 t = 0; t < tasks; ++t) {
            const i64 i = t % d.Ho, bg = t / d.Ho, g = bg % d.G, bb = bg / d.G;
            T* wt = w.data();                            // [k*k, W'] of this row
            weights_row(q, key, prior, bg, i, d, cols, mode, wt, mx.data(), sum.data());
            // LR Eq. (1): y(c, p') = sum_o w(o, p') x(c, p) for the m channels of group g
            const i64 c_end = std::min((g + 1) * d.m, d.C);
            for (i64 c = g * d.m; c < c_end; ++c) {
                T* yrow = y + ((bb * d.C + c) * d.Ho + i) * d.Wo;
                std::fill(yrow, yrow + d.Wo, T(0));
                for (i64 a = 0; a < d.K; ++a) {
                    const i64 yy = i * d.S + a - d.r;
                    if (yy < 0 || yy >= d.H) continue;
                    const T* xrow = x + ((bb * d.C + c) * d.H + yy) * d.W;
                    for (i64 b = 0; b < d.K; ++b) {
                        const T* wrow = wt + (a * d.K + b) * d.Wo;
                        const T* xx = xrow + b - d.r;
                        for (i64 j = cols[b].lo; j < cols[b].hi; ++j)
                            yrow[j] += wrow[j] * xx[j * d.S];
                    }
                }
            }
        }
    }
}

template <typename T>
void backward(const T* dy, const T* q, const T* key, const T* x, const T* prior,
              T* gq, T* gk, T* gx, T* gprior, const Shape& d, int mode, int threads) {
    // gq, gk, gx are zero on entry; gprior is [B, G, k*k], written here.
    const i64 KK = d.K * d.K;
    std::vector<Columns> cols(d.K);
    for (i64 b = 0; b < d.K; ++b) cols[b] = columns(b, d.r, d.S, d.W, d.Wo);
    const i64 tasks = d.B * d.G;
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> gw(KK * d.Wo), s(d.Wo), w(KK * d.Wo), mx(d.Wo);
#pragma omp for schedule(static)
        for (i64 bg = 0; bg < tasks; ++bg) {
            const i64 g = bg % d.G, bb = bg / d.G;
            const i64 c_end = std::min((g + 1) * d.m, d.C);
            T* gp = gprior + bg * KK;
            std::fill(gp, gp + KK, T(0));
            for (i64 i = 0; i < d.Ho; ++i) {
                weights_row(q, key, prior, bg, i, d, cols, mode, w.data(), mx.data(),
                            s.data());
                const T* wt = w.data();
                std::fill(gw.begin(), gw.end(), T(0));
                // Eq. (1) backward: dL/dw(o, p') = sum_c dy(c, p') x(c, p);
                //                   dL/dx(c, p) += w(o, p') dy(c, p')
                for (i64 c = g * d.m; c < c_end; ++c) {
                    const T* dyrow = dy + ((bb * d.C + c) * d.Ho + i) * d.Wo;
                    for (i64 a = 0; a < d.K; ++a) {
                        const i64 yy = i * d.S + a - d.r;
                        if (yy < 0 || yy >= d.H) continue;
                        const T* xrow = x + ((bb * d.C + c) * d.H + yy) * d.W;
                        T* gxrow = gx + ((bb * d.C + c) * d.H + yy) * d.W;
                        for (i64 b = 0; b < d.K; ++b) {
                            const i64 o = a * d.K + b;
                            const T* wrow = wt + o * d.Wo;
                            T* gwrow = gw.data() + o * d.Wo;
                            const T* xx = xrow + b - d.r;
                            T* gxx = gxrow + b - d.r;
                            for (i64 j = cols[b].lo; j < cols[b].hi; ++j) {
                                gwrow[j] += dyrow[j] * xx[j * d.S];
                                gxx[j * d.S] += wrow[j] * dyrow[j];
                            }
                        }
                    }
                }
                // softmax backward: dL/dlogit = w (dL/dw - sum_window w dL/dw)
                std::fill(s.begin(), s.end(), T(0));
                for (i64 o = 0; o < KK; ++o) {
                    const T* wrow = wt + o * d.Wo;
                    const T* gwrow = gw.data() + o * d.Wo;
                    for (i64 j = 0; j < d.Wo; ++j) s[j] += wrow[j] * gwrow[j];
                }
                // Eq. (2) backward: the prior, the query and the key through Phi
                const T* qrow = q + (bg * d.Ho + i) * d.Wo;
                T* gqrow = gq + (bg * d.Ho + i) * d.Wo;
                for (i64 a = 0; a < d.K; ++a) {
                    const i64 yy = i * d.S + a - d.r;
                    if (yy < 0 || yy >= d.H) continue;
                    const T* kk = key + (bg * d.H + yy) * d.W - d.r;
                    T* gkk = gk + (bg * d.H + yy) * d.W - d.r;
                    for (i64 b = 0; b < d.K; ++b) {
                        const i64 o = a * d.K + b;
                        const T* wrow = wt + o * d.Wo;
                        const T* gwrow = gw.data() + o * d.Wo;
                        T acc = T(0);
                        for (i64 j = cols[b].lo; j < cols[b].hi; ++j) {
                            const T gl = wrow[j] * (gwrow[j] - s[j]);
                            acc += gl;
                            const T qv = qrow[j], kv = kk[b + j * d.S];
                            T dq, dk;
                            if (mode == SQUARED_DIFFERENCE) {       // Phi = -(q - k)^2
                                dk = T(2) * (qv - kv); dq = -dk;
                            } else if (mode == DOT) {               // Phi = q k
                                dq = kv; dk = qv;
                            } else {                                 // Phi = -|q - k|
                                const T diff = qv - kv;
                                dk = diff > 0 ? T(1) : (diff < 0 ? T(-1) : T(0)); dq = -dk;
                            }
                            gqrow[j] += gl * dq;
                            gkk[b + j * d.S] += gl * dk;
                        }
                        gp[o] += acc;
                    }
                }
            }
        }
    }
}

// ---- stride 1: one (b, g) plane at a time, on zero-padded planes read as flat arrays --------
// With the planes padded by r on every side (width Wp = W + 2r), output pixel (i, j) is flat
// index P = i * Wp + j and its window offset (a, b) is input P + a * Wp + b: one shift for the
// whole plane. So every loop below runs over the N = H * Wp flat outputs (the Wp - W extra
// columns of each row are computed and thrown away: dy is 0 there, so they add no gradient),
// long contiguous loops that the compiler vectorises, where the row loops above are only W'
// long. inside[P'] says whether padded pixel P' is in the image; outside, the weight is 0.

struct Flat {
    i64 Hp, Wp, N, len;            // padded sizes, outputs, padded plane length (+ slack)
    std::vector<i64> off;          // a * Wp + b for o = a * k + b
    std::vector<unsigned char> inside;
};

Flat make_flat(const Shape& d) {
    Flat f;
    f.Hp = d.H + 2 * d.r; f.Wp = d.W + 2 * d.r; f.N = d.H * f.Wp;
    f.len = f.Hp * f.Wp + 2 * d.r + 1;
    for (i64 a = 0; a < d.K; ++a)
        for (i64 b = 0; b < d.K; ++b) f.off.push_back(a * f.Wp + b);
    f.inside.assign(f.len, 0);
    for (i64 y = 0; y < d.H; ++y)
        for (i64 x = 0; x < d.W; ++x) f.inside[(y + d.r) * f.Wp + x + d.r] = 1;
    return f;
}

template <typename T>
inline void pad_plane(const T* src, T* dst, const Shape& d, const Flat& f) {
    std::fill(dst, dst + f.len, T(0));
    for (i64 y = 0; y < d.H; ++y)
        std::copy(src + y * d.W, src + (y + 1) * d.W, dst + (y + d.r) * f.Wp + d.r);
}

// An output-grid plane [H, W] in the flat layout [H, Wp] (zeros in the extra columns).
template <typename T>
inline void widen_plane(const T* src, T* dst, const Shape& d, const Flat& f) {
    std::fill(dst, dst + f.N, T(0));
    for (i64 i = 0; i < d.H; ++i) std::copy(src + i * d.W, src + (i + 1) * d.W, dst + i * f.Wp);
}

// The aggregation weights of plane (b, g) in the flat layout: wt[o * N + P] (LR Eq. (2)).
// kp, qf, mx, sum: per-thread work buffers (f.len, N, N, N).
template <typename T>
void weights_flat(const T* q, const T* key, const T* prior, i64 bg, const Shape& d,
                  const Flat& f, int mode, T* __restrict__ wt, T* kpad, T* qflat, T* mx,
                  T* sum) {
    const i64 KK = d.K * d.K, N = f.N, g = bg % d.G;
    const unsigned char* __restrict__ inside = f.inside.data();
    pad_plane(key + bg * d.H * d.W, kpad, d, f);
    widen_plane(q + bg * d.H * d.W, qflat, d, f);
    const T* __restrict__ qv = qflat;
    T* __restrict__ m = mx;
    std::fill(m, m + N, -std::numeric_limits<T>::infinity());
    // logits Phi(q, k) + prior, and their maximum over the in-image window
    for (i64 o = 0; o < KK; ++o) {
        const T* __restrict__ kk = kpad + f.off[o];
        const unsigned char* __restrict__ in = inside + f.off[o];
        const T pr = prior[g * KK + o];
        T* __restrict__ l = wt + o * N;
        for (i64 P = 0; P < N; ++P) {
            const T v = phi(qv[P], kk[P], mode) + pr;
            l[P] = v;
            m[P] = in[P] ? std::max(m[P], v) : m[P];
        }
    }
    // softmax over the window; exactly 0 outside the image
    T* __restrict__ s = sum;
    std::fill(s, s + N, T(0));
    for (i64 o = 0; o < KK; ++o) {
        const unsigned char* __restrict__ in = inside + f.off[o];
        T* __restrict__ l = wt + o * N;
        for (i64 P = 0; P < N; ++P) {
            const T e = exp_nonpositive(std::min(l[P] - m[P], T(0)));
            const T e_in = in[P] ? e : T(0);
            l[P] = e_in;
            s[P] += e_in;
        }
    }
    for (i64 P = 0; P < N; ++P) s[P] = s[P] > 0 ? T(1) / s[P] : T(0);  // 0: an extra column
    for (i64 o = 0; o < KK; ++o) {
        T* __restrict__ l = wt + o * N;
        for (i64 P = 0; P < N; ++P) l[P] *= s[P];
    }
}

template <typename T>
void forward_flat(const T* q, const T* key, const T* x, const T* prior, T* y,
                  const Shape& d, int mode, int threads) {
    const i64 KK = d.K * d.K;
    const Flat f = make_flat(d);
    const i64 N = f.N;
    const i64 tasks = d.B * d.G;
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> kp(f.len), xp(f.len), qf(N), mx(N), sum(N), acc(N), w(KK * N);
#pragma omp for schedule(dynamic, 1)
        for (i64 bg = 0; bg < tasks; ++bg) {
            const i64 g = bg % d.G, bb = bg / d.G;
            T* __restrict__ wt = w.data();                               // [k*k, N]
            weights_flat(q, key, prior, bg, d, f, mode, wt, kp.data(), qf.data(), mx.data(),
                         sum.data());
            // LR Eq. (1): y(c, P) = sum_o w(o, P) x(c, P + off(o)), for the group's channels
            const i64 c_end = std::min((g + 1) * d.m, d.C);
            for (i64 c = g * d.m; c < c_end; ++c) {
                pad_plane(x + (bb * d.C + c) * d.H * d.W, xp.data(), d, f);
                T* __restrict__ a = acc.data();
                std::fill(acc.begin(), acc.end(), T(0));
                for (i64 o = 0; o < KK; ++o) {
                    const T* __restrict__ wo = wt + o * N;
                    const T* __restrict__ xx = xp.data() + f.off[o];
                    for (i64 P = 0; P < N; ++P) a[P] += wo[P] * xx[P];
                }
                T* yc = y + (bb * d.C + c) * d.H * d.W;
                for (i64 i = 0; i < d.H; ++i)
                    std::copy(a + i * f.Wp, a + i * f.Wp + d.W, yc + i * d.W);
            }
        }
    }
}

template <typename T>
void backward_flat(const T* dy, const T* q, const T* key, const T* x, const T* prior,
                   T* gq, T* gk, T* gx, T* gprior, const Shape& d, int mode, int threads) {
    const i64 KK = d.K * d.K;
    const Flat f = make_flat(d);
    const i64 N = f.N;
    const i64 tasks = d.B * d.G;
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> kp(f.len), xp(f.len), gxp(f.len), gkp(f.len), qf(N), dyf(N), gqf(N),
            s(N), gw(KK * N), w(KK * N), mx(N);
#pragma omp for schedule(dynamic, 1)
        for (i64 bg = 0; bg < tasks; ++bg) {
            const i64 g = bg % d.G, bb = bg / d.G;
            // the weights again (recomputed, not saved: k^2 / m times the output otherwise)
            weights_flat(q, key, prior, bg, d, f, mode, w.data(), kp.data(), qf.data(),
                         mx.data(), s.data());
            const T* __restrict__ wt = w.data();
            T* __restrict__ gwt = gw.data();
            std::fill(gw.begin(), gw.end(), T(0));
            // Eq. (1) backward: dL/dw(o, P) = sum_c dy(c, P) x(c, P + off(o));
            //                   dL/dx(c, P + off(o)) += w(o, P) dy(c, P)
            const i64 c_end = std::min((g + 1) * d.m, d.C);
            for (i64 c = g * d.m; c < c_end; ++c) {
                pad_plane(x + (bb * d.C + c) * d.H * d.W, xp.data(), d, f);
                widen_plane(dy + (bb * d.C + c) * d.H * d.W, dyf.data(), d, f);
                std::fill(gxp.begin(), gxp.end(), T(0));
                const T* __restrict__ dd = dyf.data();
                for (i64 o = 0; o < KK; ++o) {
                    const T* __restrict__ wo = wt + o * N;
                    const T* __restrict__ xx = xp.data() + f.off[o];
                    T* __restrict__ gxx = gxp.data() + f.off[o];
                    T* __restrict__ gwo = gwt + o * N;
                    for (i64 P = 0; P < N; ++P) {
                        gwo[P] += dd[P] * xx[P];
                        gxx[P] += wo[P] * dd[P];
                    }
                }
                T* gxc = gx + (bb * d.C + c) * d.H * d.W;
                for (i64 y = 0; y < d.H; ++y)
                    std::copy(gxp.data() + (y + d.r) * f.Wp + d.r,
                              gxp.data() + (y + d.r) * f.Wp + d.r + d.W, gxc + y * d.W);
            }
            // softmax backward: dL/dlogit = w (dL/dw - sum_window w dL/dw)
            T* __restrict__ ss = s.data();
            std::fill(s.begin(), s.end(), T(0));
            for (i64 o = 0; o < KK; ++o) {
                const T* __restrict__ wo = wt + o * N;
                const T* __restrict__ gwo = gwt + o * N;
                for (i64 P = 0; P < N; ++P) ss[P] += wo[P] * gwo[P];
            }
            // Eq. (2) backward: the prior, and the query and key through Phi
            // (kp, qf: the padded key and the widened query, left by weights_flat)
            std::fill(gkp.begin(), gkp.end(), T(0));
            std::fill(gqf.begin(), gqf.end(), T(0));
            const T* __restrict__ qv = qf.data();
            T* __restrict__ gqv = gqf.data();
            T* gp = gprior + bg * KK;
            for (i64 o = 0; o < KK; ++o) {
                const T* __restrict__ wo = wt + o * N;
                const T* __restrict__ gwo = gwt + o * N;
                const T* __restrict__ kk = kp.data() + f.off[o];
                T* __restrict__ gkk = gkp.data() + f.off[o];
                T total = T(0);
                for (i64 P = 0; P < N; ++P) {
                    const T gl = wo[P] * (gwo[P] - ss[P]);
                    total += gl;
                    T dq, dk;
                    if (mode == SQUARED_DIFFERENCE) {           // Phi = -(q - k)^2
                        dk = T(2) * (qv[P] - kk[P]); dq = -dk;
                    } else if (mode == DOT) {                   // Phi = q k
                        dq = kk[P]; dk = qv[P];
                    } else {                                     // Phi = -|q - k|
                        const T diff = qv[P] - kk[P];
                        dk = diff > 0 ? T(1) : (diff < 0 ? T(-1) : T(0)); dq = -dk;
                    }
                    gqv[P] += gl * dq;
                    gkk[P] += gl * dk;
                }
                gp[o] = total;
            }
            T* gqp = gq + bg * d.H * d.W;
            T* gkc = gk + bg * d.H * d.W;
            for (i64 i = 0; i < d.H; ++i) {
                std::copy(gqv + i * f.Wp, gqv + i * f.Wp + d.W, gqp + i * d.W);
                std::copy(gkp.data() + (i + d.r) * f.Wp + d.r,
                          gkp.data() + (i + d.r) * f.Wp + d.r + d.W, gkc + i * d.W);
            }
        }
    }
}

Shape make_shape(i64 B, i64 G, i64 C, i64 H, i64 W, i64 Ho, i64 Wo, i64 K, i64 S) {
    return {B, G, C, H, W, Ho, Wo, K, S, (C + G - 1) / G, K / 2};
}

}  // namespace

#define LR_EXPORT(T, suffix)                                                                  \
    extern "C" void lr_cpu_forward_##suffix(const T* q, const T* key, const T* x,            \
                                            const T* prior, T* y, i64 B, i64 G, i64 C,        \
                                            i64 H, i64 W, i64 Ho, i64 Wo, i64 K, i64 S,        \
                                            int mode, int threads) {                          \
        const Shape d = make_shape(B, G, C, H, W, Ho, Wo, K, S);                              \
        if (S == 1) forward_flat<T>(q, key, x, prior, y, d, mode, threads);                   \
        else forward<T>(q, key, x, prior, y, d, mode, threads);                               \
    }                                                                                         \
    extern "C" void lr_cpu_backward_##suffix(const T* dy, const T* q, const T* key,          \
                                             const T* x, const T* prior, T* gq, T* gk, T* gx, \
                                             T* gprior, i64 B, i64 G, i64 C, i64 H, i64 W,    \
                                             i64 Ho, i64 Wo, i64 K, i64 S, int mode,          \
                                             int threads) {                                   \
        const Shape d = make_shape(B, G, C, H, W, Ho, Wo, K, S);                              \
        if (S == 1) backward_flat<T>(dy, q, key, x, prior, gq, gk, gx, gprior, d, mode, threads); \
        else backward<T>(dy, q, key, x, prior, gq, gk, gx, gprior, d, mode, threads);             \
    }

LR_EXPORT(float, float)
LR_EXPORT(double, double)
