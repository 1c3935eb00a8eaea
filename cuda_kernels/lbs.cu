// CUDA linear blend skinning: one thread per (pose, vertex); the pose's matrices are read through the
// read-only cache since many neighbouring vertices share joints.
#include "lbs/lbs.h"
#include "cuda_check.h"

namespace vips {

__global__ void lbs_kernel(const float* __restrict__ vertices, const int32_t* __restrict__ indices,
                           const float* __restrict__ weights, const float* __restrict__ transforms, int64_t P,
                           int64_t V, int64_t K, int64_t J, float* __restrict__ out) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= P * V) return;
  const int64_t p = i / V, v = i % V;
  const float x = vertices[3 * v], y = vertices[3 * v + 1], z = vertices[3 * v + 2];
  float a0 = 0.f, a1 = 0.f, a2 = 0.f;
  for (int64_t k = 0; k < K; ++k) {
    const float w = weights[K * v + k];
    const int32_t j = indices[K * v + k];
    // Indices are range-checked only for host arrays; an out-of-range device index is skipped, not read.
    if (w == 0.f || j < 0 || j >= J) continue;
    const float* m = transforms + (p * J + j) * 16;
    a0 += w * (__ldg(m + 0) * x + __ldg(m + 1) * y + __ldg(m + 2) * z + __ldg(m + 3));
    a1 += w * (__ldg(m + 4) * x + __ldg(m + 5) * y + __ldg(m + 6) * z + __ldg(m + 7));
    a2 += w * (__ldg(m + 8) * x + __ldg(m + 9) * y + __ldg(m + 10) * z + __ldg(m + 11));
  }
  out[3 * i] = a0; out[3 * i + 1] = a1; out[3 * i + 2] = a2;
}

void lbs_cuda(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
              int64_t P, int64_t V, int64_t K, int64_t J, float* out) {
  if (P * V == 0) return;
  const int threads = 256;
  lbs_kernel<<<unsigned((P * V + threads - 1) / threads), threads>>>(vertices, indices, weights, transforms, P, V,
                                                                     K, J, out);
  VIPS_CUDA_CHECK(cudaGetLastError());
  VIPS_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace vips
