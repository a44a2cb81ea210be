// The local relation layer (LR-Net: Hu, Zhang, Xie, Lin, "Local Relation Networks for Image
// Recognition", ICCV 2019, arXiv:1904.11491) as CUDA kernels, forward and backward.
//
// This one file is compiled three ways (relnotes/ops/kernels/):
//   * by NVRTC through CuPy (cupy_backend.py) on a GPU;
//   * by NVRTC alone, for compute_75/80/90, in CI (nvrtc.py; no GPU needed);
//   * by g++ after cuda_emulation.h, which runs every CUDA thread as a std::thread (emulation.py),
//     so CI checks the kernels' results on a CPU.
// It therefore includes no header at all: NVRTC has no host headers, and the emulation header
// supplies what g++ needs. Grid, block and argument order are decided once, in launch.py.
//
// Shapes (all tensors contiguous, row-major; shapes are int32 arguments, flat offsets int64):
//   query   [B, G, Ho, Wo]   one scalar query per channel group and output pixel
//   key     [B, G, H,  W ]   one scalar key per channel group and input pixel
//   value   [B, C, H,  W ]   the layer input ("Identity" in LR Fig. 2)
//   prior   [G, K, K]        geometry prior f_theta_g(p - p'), one K x K map per group
//   weights [B, G, K*K, Ho, Wo]  softmax weights w(p', p); 0 for neighbours outside the image
//   out     [B, C, Ho, Wo]
// with Ho = ceil(H / stride), Wo = ceil(W / stride), channel c in group g = c / m, m = ceil(C / G)
// (contiguous groups, the last one may be smaller; the official kernel's layout). The window of
// output (i, j) is centred on input (i*stride, j*stride); neighbour n = dy*K + dx sits at
// (i*stride + dy - K/2, j*stride + dx - K/2).
//
// Equations of the LR paper (numbers as in the paper):
//   Eq. (1)  y(c', p') = sum_{c in Omega_c', p in Omega_p'} w(c', c, p', p) * x(c, p)  (aggregation)
//   Eq. (2)  w(p', p)  = softmax_{p in Omega_p'}( Phi(f_theta_q(x_p'), f_theta_k(x_p)) + f_theta_g(p - p') )
// with Phi one of  -(q - k)^2 (squared difference, the paper's default), q*k (dot), -|q - k|.
//
// Thread mapping. Every kernel but the last is "one thread per element of its output" with a
// grid-stride loop, so a grid of any size covers any tensor. The flat index is decomposed
// with the last (width) coordinate fastest, so neighbouring threads touch neighbouring memory.
//
//   forward:   lr_weights        thread (b, g, i, j): K*K logits, softmax          Eq. (2)
//              lr_aggregate      thread (b, c, i, j): sum_n w_n * value             Eq. (1)
//   backward:  lr_weights        (again: the weights are recomputed, not stored)
//              lr_grad_logits    thread (b, g, i, j): dL/dw -> dL/dlogit, and dL/dq
//              lr_grad_key       thread (b, g, y, x): gather over the windows containing (y, x)
//              lr_grad_value     thread (b, c, y, x): gather over the windows containing (y, x)
//              lr_grad_prior     block per (g, n) and chunk: shared-memory sum, one atomicAdd
// Only lr_grad_prior uses an atomic (the prior is shared by every b, i, j); the gathers let each
// thread own the one element it writes, so they need none and are deterministic.

// Phi selector, the `mode` argument (relnotes/ops/local_relation_args.py: COMPOSABILITY_MODES).
#define LR_SQUARED_DIFFERENCE 0
#define LR_DOT 1
#define LR_ABS_DIFFERENCE 2

// Largest block of lr_grad_prior (its shared array has one slot per thread).
#define LR_MAX_THREADS 256

__device__ __forceinline__ float lr_exp(float x) { return expf(x); }
__device__ __forceinline__ double lr_exp(double x) { return exp(x); }

// Phi(q, k): the appearance composability term of Eq. (2).
template <typename scalar_t>
__device__ __forceinline__ scalar_t lr_phi(scalar_t q, scalar_t k, int mode) {
  const scalar_t d = q - k;
  if (mode == LR_SQUARED_DIFFERENCE) return -d * d;
  if (mode == LR_DOT) return q * k;
  return d > 0 ? -d : d;  // -|q - k|
}

// dPhi/dq; dPhi/dk is the same with (q, k) swapped for dot and negated for the differences.
// For -|q - k| at q == k we take 0, as torch.abs does.
template <typename scalar_t>
__device__ __forceinline__ scalar_t lr_dphi_dq(scalar_t q, scalar_t k, int mode) {
  const scalar_t d = q - k;
  if (mode == LR_SQUARED_DIFFERENCE) return -2 * d;
  if (mode == LR_DOT) return k;
  return d > 0 ? scalar_t(-1) : (d < 0 ? scalar_t(1) : scalar_t(0));
}

template <typename scalar_t>
__device__ __forceinline__ scalar_t lr_dphi_dk(scalar_t q, scalar_t k, int mode) {
  if (mode == LR_DOT) return q;
  return -lr_dphi_dq(q, k, mode);
}

// ---------------------------------------------------------------------------------------------
// Forward 1: the aggregation weights w, LR Eq. (2). One thread per (b, g, i, j).
// ---------------------------------------------------------------------------------------------
template <typename scalar_t>
__global__ void lr_weights(const scalar_t* __restrict__ query, const scalar_t* __restrict__ key,
                           const scalar_t* __restrict__ prior, scalar_t* __restrict__ weights,
                           int B, int G, int H, int W, int Ho, int Wo, int K, int stride,
                           int mode) {
  const long long total = (long long)B * G * Ho * Wo;
  const long long plane = (long long)Ho * Wo;  // one (b, g, n) slice of `weights`
  const int r = K / 2;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)blockDim.x * gridDim.x) {
    // idx = ((b * G + g) * Ho + i) * Wo + j, the flat index of query[b, g, i, j]
    const int j = (int)(idx % Wo);
    const int i = (int)((idx / Wo) % Ho);
    const long long bg = idx / plane;  // b * G + g
    const int g = (int)(bg % G);
    const scalar_t q = query[idx];
    const scalar_t* key_bg = key + bg * H * W;
    scalar_t* w = weights + bg * K * K * plane + (long long)i * Wo + j;  // w[n * plane]
    const int y0 = i * stride - r, x0 = j * stride - r;  // top-left of the window

    // Pass 1: logits Phi(q, k_n) + prior[g, n] of the in-image neighbours (Eq. (2), inside the
    // softmax), kept in `weights`, and their maximum for a stable exp. The centre (i*stride,
    // j*stride) is always inside the image, so the window is never empty.
    scalar_t top = 0;
    bool first = true;
    for (int dy = 0; dy < K; ++dy) {
      for (int dx = 0; dx < K; ++dx) {
        const int y = y0 + dy, x = x0 + dx;
        const int n = dy * K + dx;
        if (y < 0 || y >= H || x < 0 || x >= W) continue;
        const scalar_t logit = lr_phi(q, key_bg[y * W + x], mode) + prior[(g * K + dy) * K + dx];
        w[n * plane] = logit;
        if (first || logit > top) top = logit;
        first = false;
      }
    }
    // Pass 2: softmax over the in-image neighbours only; outside ones get weight 0 (the
    // official kernel gives them a logit of -100 instead, which is almost the same).
    scalar_t denom = 0;
    for (int dy = 0; dy < K; ++dy) {
      for (int dx = 0; dx < K; ++dx) {
        const int y = y0 + dy, x = x0 + dx;
        const int n = dy * K + dx;
        if (y < 0 || y >= H || x < 0 || x >= W) {
          w[n * plane] = 0;
          continue;
        }
        const scalar_t e = lr_exp(w[n * plane] - top);
        w[n * plane] = e;
        denom += e;
      }
    }
    for (int n = 0; n < K * K; ++n) w[n * plane] /= denom;  // Eq. (2): w(p', p)
  }
}

// ---------------------------------------------------------------------------------------------
// Forward 2: aggregation, LR Eq. (1). One thread per output element (b, c, i, j); the m
// channels of a group read the same K*K weights.
// ---------------------------------------------------------------------------------------------
template <typename scalar_t>
__global__ void lr_aggregate(const scalar_t* __restrict__ weights,
                             const scalar_t* __restrict__ value, scalar_t* __restrict__ out,
                             int B, int G, int C, int H, int W, int Ho, int Wo, int K,
                             int stride, int m) {
  const long long total = (long long)B * C * Ho * Wo;
  const long long plane = (long long)Ho * Wo;
  const int r = K / 2;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)blockDim.x * gridDim.x) {
    // idx = ((b * C + c) * Ho + i) * Wo + j, the flat index of out[b, c, i, j]
    const int j = (int)(idx % Wo);
    const int i = (int)((idx / Wo) % Ho);
    const long long bc = idx / plane;  // b * C + c
    const int c = (int)(bc % C);
    const long long b = bc / C;
    const int g = c / m;  // contiguous channel groups
    const scalar_t* w = weights + (b * G + g) * K * K * plane + (long long)i * Wo + j;
    const scalar_t* v = value + bc * H * W;
    const int y0 = i * stride - r, x0 = j * stride - r;
    scalar_t acc = 0;
    for (int dy = 0; dy < K; ++dy) {
      const int y = y0 + dy;
      if (y < 0 || y >= H) continue;
      for (int dx = 0; dx < K; ++dx) {
        const int x = x0 + dx;
        if (x < 0 || x >= W) continue;
        acc += w[(dy * K + dx) * plane] * v[y * W + x];  // Eq. (1): sum_p w(p', p) x(c, p)
      }
    }
    out[idx] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward 1: from dL/dout to dL/dlogit, and dL/dquery. One thread per (b, g, i, j).
//   dL/dw_n      = sum_{c in g} dL/dout[b, c, i, j] * value[b, c, y_n, x_n]     (Eq. (1))
//   dL/dlogit_n  = w_n (dL/dw_n - sum_n' w_n' dL/dw_n')                     (softmax of Eq. (2))
//   dL/dq        = sum_n dL/dlogit_n * dPhi(q, k_n)/dq
// The query of output (i, j) appears only in its own window, so this is its full gradient.
// ---------------------------------------------------------------------------------------------
template <typename scalar_t>
__global__ void lr_grad_logits(const scalar_t* __restrict__ grad_out,
                               const scalar_t* __restrict__ query,
                               const scalar_t* __restrict__ key,
                               const scalar_t* __restrict__ value,
                               const scalar_t* __restrict__ weights,
                               scalar_t* __restrict__ grad_logits,
                               scalar_t* __restrict__ grad_query, int B, int G, int C, int H,
                               int W, int Ho, int Wo, int K, int stride, int m, int mode) {
  const long long total = (long long)B * G * Ho * Wo;
  const long long plane = (long long)Ho * Wo;
  const int r = K / 2;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)blockDim.x * gridDim.x) {
    const int j = (int)(idx % Wo);
    const int i = (int)((idx / Wo) % Ho);
    const long long bg = idx / plane;
    const int g = (int)(bg % G);
    const long long b = bg / G;
    const int c_begin = g * m;
    const int c_end = c_begin + m < C ? c_begin + m : C;  // the last group may be smaller
    const long long at = bg * K * K * plane + (long long)i * Wo + j;
    const scalar_t* w = weights + at;
    scalar_t* gl = grad_logits + at;
    const int y0 = i * stride - r, x0 = j * stride - r;

    // Pass 1: dL/dw_n into grad_logits (outside neighbours: 0), and s = sum_n w_n dL/dw_n.
    scalar_t s = 0;
    for (int dy = 0; dy < K; ++dy) {
      for (int dx = 0; dx < K; ++dx) {
        const int y = y0 + dy, x = x0 + dx;
        const int n = dy * K + dx;
        scalar_t dw = 0;
        if (y >= 0 && y < H && x >= 0 && x < W) {
          for (int c = c_begin; c < c_end; ++c) {
            const long long bc = b * C + c;
            dw += grad_out[(bc * Ho + i) * Wo + j] * value[(bc * H + y) * W + x];
          }
        }
        gl[n * plane] = dw;
        s += w[n * plane] * dw;
      }
    }
    // Pass 2: softmax backward, then the query's share of each logit.
    const scalar_t q = query[idx];
    const scalar_t* key_bg = key + bg * H * W;
    scalar_t gq = 0;
    for (int dy = 0; dy < K; ++dy) {
      for (int dx = 0; dx < K; ++dx) {
        const int y = y0 + dy, x = x0 + dx;
        const int n = dy * K + dx;
        const scalar_t dlogit = w[n * plane] * (gl[n * plane] - s);  // 0 outside: w_n = 0
        gl[n * plane] = dlogit;
        if (y >= 0 && y < H && x >= 0 && x < W)
          gq += dlogit * lr_dphi_dq(q, key_bg[y * W + x], mode);
      }
    }
    grad_query[idx] = gq;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward 2 and 3: dL/dkey and dL/dvalue by gathering. Input pixel (y, x) is neighbour
// n = (dy, dx) of output (i, j) exactly when i*stride + dy - K/2 == y, i.e. when
// y - dy + K/2 is a non-negative multiple of stride whose quotient is < Ho (same for x). So the
// thread of input pixel (y, x) visits its (at most K*K) windows and sums their contributions,
// instead of each output scattering into K*K inputs with atomics.
// ---------------------------------------------------------------------------------------------
template <typename scalar_t>
__global__ void lr_grad_key(const scalar_t* __restrict__ query, const scalar_t* __restrict__ key,
                            const scalar_t* __restrict__ grad_logits,
                            scalar_t* __restrict__ grad_key, int B, int G, int H, int W, int Ho,
                            int Wo, int K, int stride, int mode) {
  const long long total = (long long)B * G * H * W;
  const long long plane = (long long)Ho * Wo;
  const int r = K / 2;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)blockDim.x * gridDim.x) {
    // idx = ((b * G + g) * H + y) * W + x, the flat index of key[b, g, y, x]
    const int x = (int)(idx % W);
    const int y = (int)((idx / W) % H);
    const long long bg = idx / ((long long)H * W);
    const scalar_t k = key[idx];
    scalar_t acc = 0;
    for (int dy = 0; dy < K; ++dy) {
      const int ys = y - dy + r;  // i * stride, if this window exists
      if (ys < 0 || ys % stride != 0 || ys / stride >= Ho) continue;
      const int i = ys / stride;
      for (int dx = 0; dx < K; ++dx) {
        const int xs = x - dx + r;
        if (xs < 0 || xs % stride != 0 || xs / stride >= Wo) continue;
        const int j = xs / stride;
        const scalar_t dlogit = grad_logits[(bg * K * K + dy * K + dx) * plane + i * Wo + j];
        acc += dlogit * lr_dphi_dk(query[bg * plane + i * Wo + j], k, mode);
      }
    }
    grad_key[idx] = acc;
  }
}

template <typename scalar_t>
__global__ void lr_grad_value(const scalar_t* __restrict__ grad_out,
                              const scalar_t* __restrict__ weights,
                              scalar_t* __restrict__ grad_value, int B, int G, int C, int H,
                              int W, int Ho, int Wo, int K, int stride, int m) {
  const long long total = (long long)B * C * H * W;
  const long long plane = (long long)Ho * Wo;
  const int r = K / 2;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)blockDim.x * gridDim.x) {
    // idx = ((b * C + c) * H + y) * W + x, the flat index of value[b, c, y, x]
    const int x = (int)(idx % W);
    const int y = (int)((idx / W) % H);
    const long long bc = idx / ((long long)H * W);
    const int c = (int)(bc % C);
    const long long b = bc / C;
    const scalar_t* w = weights + (b * G + c / m) * K * K * plane;
    const scalar_t* go = grad_out + bc * plane;
    scalar_t acc = 0;
    for (int dy = 0; dy < K; ++dy) {
      const int ys = y - dy + r;
      if (ys < 0 || ys % stride != 0 || ys / stride >= Ho) continue;
      const int i = ys / stride;
      for (int dx = 0; dx < K; ++dx) {
        const int xs = x - dx + r;
        if (xs < 0 || xs % stride != 0 || xs / stride >= Wo) continue;
        const int j = xs / stride;
        // transpose of Eq. (1): dL/dx(c, p) = sum_p' w(p', p) dL/dy(c, p')
        acc += w[(dy * K + dx) * plane + i * Wo + j] * go[i * Wo + j];
      }
    }
    grad_value[idx] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward 4: dL/dprior[g, n] = sum_{b, i, j} dL/dlogit[b, g, n, i, j]. The prior is shared by
// every image and pixel, so this is a reduction. Grid: blockIdx.x = g * K*K + n (one row of the
// prior), blockIdx.y = a chunk of the B*Ho*Wo terms. Each thread sums a strided subset, the block
// adds its threads' sums in shared memory (a tree, halving the active threads at each
// __syncthreads), and thread 0 adds the block's sum to grad_prior with one atomicAdd.
// grad_prior must be zero on entry. blockDim.x must be a power of two <= LR_MAX_THREADS.
// ---------------------------------------------------------------------------------------------
template <typename scalar_t>
__global__ void lr_grad_prior(const scalar_t* __restrict__ grad_logits,
                              scalar_t* __restrict__ grad_prior, int B, int G, int Ho, int Wo,
                              int K) {
  __shared__ scalar_t partial[LR_MAX_THREADS];
  const int row = blockIdx.x;  // g * K * K + n
  const int g = row / (K * K), n = row % (K * K);
  const long long plane = (long long)Ho * Wo;
  const long long terms = (long long)B * plane;
  scalar_t acc = 0;
  for (long long e = blockIdx.y * (long long)blockDim.x + threadIdx.x; e < terms;
       e += (long long)blockDim.x * gridDim.y) {
    const long long b = e / plane, p = e % plane;
    acc += grad_logits[((b * G + g) * K * K + n) * plane + p];
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(grad_prior + row, partial[0]);
}
