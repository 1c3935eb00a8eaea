// CUDA FK + handle energy + analytic gradient: one thread per pose walks the hierarchy (J small, B large).
// The per-joint scratch lives in global memory interleaved by pose, [(j * 18 + k) * B + b], so the threads
// of a warp touch consecutive addresses.
#include "cuda_check.h"
#include "fk_energy/fk_energy.h"
#include "fk_energy/fk_energy_pose.h"

namespace vips {

namespace {
struct InterleavedScratch {
  float* base;
  int64_t B, b;
  __device__ float& operator()(int64_t j, int k) const {
    return base[(j * fk_energy_detail::kStride + k) * B + b];
  }
};

__global__ void fk_energy_kernel(const float* __restrict__ q, const float* __restrict__ t, int64_t tstride,
                                 const int32_t* __restrict__ parents, const int32_t* __restrict__ hjoint,
                                 const float* __restrict__ target, int64_t target_stride,
                                 const float* __restrict__ hweight, int64_t B, int64_t J, int64_t H,
                                 float* __restrict__ scratch, float* __restrict__ energy,
                                 float* __restrict__ positions, float* __restrict__ grad_rotation,
                                 float* __restrict__ grad_translation) {
  const int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  energy[b] = fk_energy_detail::pose_energy_grad<float>(
      q + b * J * 4, t + b * tstride, parents, hjoint, target + b * target_stride, hweight, J, H,
      InterleavedScratch{scratch, B, b}, positions + b * J * 3, grad_rotation + b * J * 3,
      grad_translation + b * J * 3);
}
}  // namespace

void fk_energy_cuda(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
                    const int32_t* parents, const int32_t* handle_joints, const float* handle_targets,
                    int64_t target_batch_stride, const float* handle_weights, int64_t B, int64_t J, int64_t H,
                    float* energy, float* positions, float* grad_rotation, float* grad_translation) {
  if (B == 0) return;
  float* scratch = nullptr;
  const size_t bytes = size_t(B) * size_t(J > 0 ? J : 1) * fk_energy_detail::kStride * sizeof(float);
  VIPS_CUDA_CHECK(cudaMallocAsync(&scratch, bytes, 0));
  const int threads = 128;
  fk_energy_kernel<<<unsigned((B + threads - 1) / threads), threads>>>(
      local_rotations, local_translations, translation_batch_stride, parents, handle_joints, handle_targets,
      target_batch_stride, handle_weights, B, J, H, scratch, energy, positions, grad_rotation, grad_translation);
  const cudaError_t launch = cudaGetLastError();
  VIPS_CUDA_CHECK(cudaFreeAsync(scratch, 0));
  VIPS_CUDA_CHECK(launch);
  VIPS_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace vips
