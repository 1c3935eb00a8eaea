// CUDA forward kinematics: one thread per pose walks the hierarchy (J is small, B is large).
#include "core/rotation.h"
#include "fk/fk.h"
#include "cuda_check.h"

namespace vips {

__global__ void fk_kernel(const float* __restrict__ q, const float* __restrict__ t, int64_t tstride,
                          const int32_t* __restrict__ parents, int64_t B, int64_t J, float* __restrict__ world) {
  const int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  for (int64_t j = 0; j < J; ++j) {
    float local[16];
    quat_to_affine(q + (b * J + j) * 4, t + b * tstride + 3 * j, local);
    float* w = world + (b * J + j) * 16;
    const int32_t p = parents[j];
    // The binding checks topological order only for host arrays; a bad device parent must not read out of
    // bounds, so it is treated as a root.
    if (p < 0 || p >= j) {
      for (int k = 0; k < 16; ++k) w[k] = local[k];
    } else {
      affine_mul(world + (b * J + p) * 16, local, w);
    }
  }
}

void fk_cuda(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
             const int32_t* parents, int64_t B, int64_t J, float* world) {
  if (B == 0 || J == 0) return;
  const int threads = 128;
  fk_kernel<<<unsigned((B + threads - 1) / threads), threads>>>(local_rotations, local_translations,
                                                               translation_batch_stride, parents, B, J, world);
  VIPS_CUDA_CHECK(cudaGetLastError());
  VIPS_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace vips
