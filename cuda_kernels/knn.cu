// CUDA K-nearest neighbours: tiled brute force. One thread per query; the block streams its cloud of b
// through shared memory in tiles, every thread keeping its K best in registers.
//
// The thread keeps KK >= K candidates (KK a power of two, a template argument) so the sorted insertion
// unrolls with constant indices and stays in registers; the first K of the KK best are the K best.
// Points are scanned in index order and a candidate must be strictly closer to enter, so ties resolve to
// the smaller index. Distances use round-to-nearest intrinsics (no FMA contraction, even under
// --use_fast_math) to match the CPU kernel bit for bit.
#include <algorithm>

#include "cuda_check.h"
#include "knn/knn.h"

namespace vips {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float sqdist(float qx, float qy, float qz, float px, float py, float pz) {
  const float dx = __fsub_rn(qx, px), dy = __fsub_rn(qy, py), dz = __fsub_rn(qz, pz);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
}

template <int KK>
__global__ void knn_brute_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                 const int64_t* __restrict__ lengths_a, const int64_t* __restrict__ lengths_b,
                                 int64_t B, int64_t N, int64_t M, int K, float* __restrict__ dist,
                                 int64_t* __restrict__ idx) {
  __shared__ float tile[kThreads * 3];
  const int64_t n = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t i = blockIdx.y; i < B; i += gridDim.y) {  // the loop bound is uniform over the block
    const int64_t na = min(max(lengths_a[i], int64_t(0)), N);
    const int64_t mb = min(max(lengths_b[i], int64_t(0)), M);
    const bool active = n < na;
    const int64_t block_first = blockIdx.x * int64_t(blockDim.x);
    float qx = 0.f, qy = 0.f, qz = 0.f;
    if (active) {
      qx = a[(i * N + n) * 3];
      qy = a[(i * N + n) * 3 + 1];
      qz = a[(i * N + n) * 3 + 2];
    }
    float best_d[KK];
    int32_t best_i[KK];
#pragma unroll
    for (int j = 0; j < KK; ++j) {
      best_d[j] = __int_as_float(0x7f800000);  // +inf
      best_i[j] = -1;
    }
    const float* bp = b + i * M * 3;
    // Blocks whose queries are all padding skip the scan (uniform over the block, so no barrier hangs).
    for (int64_t t0 = 0; block_first < na && t0 < mb; t0 += kThreads) {
      const int count = int(min(int64_t(kThreads), mb - t0));
      for (int j = threadIdx.x; j < count * 3; j += blockDim.x) tile[j] = bp[t0 * 3 + j];
      __syncthreads();
      if (active) {
        for (int j = 0; j < count; ++j) {
          const float d = sqdist(qx, qy, qz, tile[3 * j], tile[3 * j + 1], tile[3 * j + 2]);
          if (d < best_d[KK - 1]) {
            best_d[KK - 1] = d;
            best_i[KK - 1] = int32_t(t0 + j);
#pragma unroll
            for (int s = KK - 1; s > 0; --s) {
              if (best_d[s] < best_d[s - 1]) {
                const float td = best_d[s];
                best_d[s] = best_d[s - 1];
                best_d[s - 1] = td;
                const int32_t ti = best_i[s];
                best_i[s] = best_i[s - 1];
                best_i[s - 1] = ti;
              }
            }
          }
        }
      }
      __syncthreads();
    }
    if (n < N) {
      float* od = dist + (i * N + n) * K;
      int64_t* oi = idx + (i * N + n) * K;
#pragma unroll
      for (int j = 0; j < KK; ++j) {
        if (j < K) {
          od[j] = best_d[j];  // padded queries never updated theirs: inf and -1
          oi[j] = best_i[j];
        }
      }
    }
  }
}

template <int KK>
void launch(const float* a, const float* b, const int64_t* la, const int64_t* lb, int64_t B, int64_t N, int64_t M,
            int K, float* dist, int64_t* idx) {
  const dim3 grid(unsigned((N + kThreads - 1) / kThreads), unsigned(std::min<int64_t>(B, 65535)));
  knn_brute_kernel<KK><<<grid, kThreads>>>(a, b, la, lb, B, N, M, K, dist, idx);
}

}  // namespace

void knn_cuda(const float* a, const float* b, const int64_t* lengths_a, const int64_t* lengths_b, int64_t B,
              int64_t N, int64_t M, int64_t K, float* dist, int64_t* idx) {
  if (B == 0 || N == 0) return;
  const int k = int(K);
  if (k <= 1) launch<1>(a, b, lengths_a, lengths_b, B, N, M, k, dist, idx);
  else if (k <= 2) launch<2>(a, b, lengths_a, lengths_b, B, N, M, k, dist, idx);
  else if (k <= 4) launch<4>(a, b, lengths_a, lengths_b, B, N, M, k, dist, idx);
  else if (k <= 8) launch<8>(a, b, lengths_a, lengths_b, B, N, M, k, dist, idx);
  else if (k <= 16) launch<16>(a, b, lengths_a, lengths_b, B, N, M, k, dist, idx);
  else launch<32>(a, b, lengths_a, lengths_b, B, N, M, k, dist, idx);
  VIPS_CUDA_CHECK(cudaGetLastError());
  VIPS_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace vips
