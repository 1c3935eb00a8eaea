#include "ddim/ddim.h"

#include <algorithm>

#include "ddim/ddim_elem.h"

namespace vips {

namespace {
// Elements per parallel work item: large enough to amortize scheduling, small enough that a thread which
// loses its core to another process holds up only a small run (dynamic schedule, one barrier).
constexpr int64_t kBlock = 1 << 15;

// One instantiation per option set, so each inner loop is branch-free and vectorizes.
template <bool kGuide, bool kClamp, bool kNoise>
void step_loop(const float* __restrict x_t, const float* __restrict eps, const float* __restrict noise,
               const float* __restrict guidance, int64_t n, const DdimStepCoeffs c, float* __restrict x_prev,
               float* __restrict x0) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1) if (n > (1 << 18))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t end = std::min(n, (blk + 1) * kBlock);
#pragma omp simd
    for (int64_t i = blk * kBlock; i < end; ++i)
      ddim_detail::step<kGuide, kClamp, kNoise>(x_t[i], eps[i], kNoise ? noise[i] : 0.f,
                                                kGuide ? guidance[i] : 0.f, c, x_prev[i], x0[i]);
  }
}

template <bool kGuide, bool kClamp>
void step_noise(const float* x_t, const float* eps, const float* noise, const float* guidance, int64_t n,
                const DdimStepCoeffs& c, float* x_prev, float* x0) {
  if (noise && c.out_noise != 0.f) step_loop<kGuide, kClamp, true>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else step_loop<kGuide, kClamp, false>(x_t, eps, noise, guidance, n, c, x_prev, x0);
}
}  // namespace

void ddim_step_cpu(const float* x_t, const float* eps, const float* noise, const float* guidance, int64_t n,
                   const DdimStepCoeffs& c, float* x_prev, float* x0) {
  const bool guide = guidance != nullptr && c.guidance_scale != 0.f, clamp = c.clamp > 0.f;
  if (guide && clamp) step_noise<true, true>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else if (guide) step_noise<true, false>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else if (clamp) step_noise<false, true>(x_t, eps, noise, guidance, n, c, x_prev, x0);
  else step_noise<false, false>(x_t, eps, noise, guidance, n, c, x_prev, x0);
}

void ddim_invert_cpu(const float* x_t, const float* eps, int64_t n, const DdimInvertCoeffs& c, float* x_next) {
  const DdimInvertCoeffs cc = c;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1) if (n > (1 << 18))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t end = std::min(n, (blk + 1) * kBlock);
#pragma omp simd
    for (int64_t i = blk * kBlock; i < end; ++i) x_next[i] = ddim_detail::invert(x_t[i], eps[i], cc);
  }
}

}  // namespace vips
