// CUDA fused DDIM step and inversion: one thread per element (grid-stride), coefficients by value.
#include "cuda_check.h"
#include "ddim/ddim.h"
#include "ddim/ddim_elem.h"

namespace vips {

namespace {
template <bool kGuide, bool kClamp, bool kNoise>
__global__ void step_kernel(const float* __restrict__ x_t, const float* __restrict__ eps,
                            const float* __restrict__ noise, const float* __restrict__ guidance, int64_t n,
                            DdimStepCoeffs c, float* __restrict__ x_prev, float* __restrict__ x0) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    ddim_detail::step<kGuide, kClamp, kNoise>(x_t[i], eps[i], kNoise ? noise[i] : 0.f,
                                              kGuide ? guidance[i] : 0.f, c, x_prev[i], x0[i]);
}

__global__ void invert_kernel(const float* __restrict__ x_t, const float* __restrict__ eps, int64_t n,
                              DdimInvertCoeffs c, float* __restrict__ x_next) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x_next[i] = ddim_detail::invert(x_t[i], eps[i], c);
}

constexpr int kThreads = 256;
unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 8 ? b : 65535 * 8);
}

template <bool kGuide, bool kClamp>
void launch_noise(const float* x_t, const float* eps, const float* noise, const float* guidance, int64_t n,
                  const DdimStepCoeffs& c, float* x_prev, float* x0) {
  if (noise && c.out_noise != 0.f)
    step_kernel<kGuide, kClamp, true><<<blocks_for(n), kThreads>>>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else
    step_kernel<kGuide, kClamp, false><<<blocks_for(n), kThreads>>>(x_t, eps, noise, guidance, n, c, x_prev, x0);
}
}  // namespace

void ddim_step_cuda(const float* x_t, const float* eps, const float* noise, const float* guidance, int64_t n,
                    const DdimStepCoeffs& c, float* x_prev, float* x0) {
  if (n == 0) return;
  const bool guide = guidance != nullptr && c.guidance_scale != 0.f, clamp = c.clamp > 0.f;
  if (guide && clamp) launch_noise<true, true>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else if (guide) launch_noise<true, false>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else if (clamp) launch_noise<false, true>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else launch_noise<false, false>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  VIPS_CUDA_CHECK(cudaGetLastError());
  VIPS_CUDA_CHECK(cudaDeviceSynchronize());
}

void ddim_invert_cuda(const float* x_t, const float* eps, int64_t n, const DdimInvertCoeffs& c, float* x_next) {
  if (n == 0) return;
  invert_kernel<<<blocks_for(n), kThreads>>>(x_t, eps, n, c, x_next);
  VIPS_CUDA_CHECK(cudaGetLastError());
  VIPS_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace vips
