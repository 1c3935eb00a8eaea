// One element of the fused DDIM step, shared by the CPU and CUDA kernels (math in ddim.h).
#pragma once

#include "core/rotation.h"  // VIPS_HD
#include "ddim/ddim.h"

namespace vips::ddim_detail {

template <bool kGuide, bool kClamp, bool kNoise>
VIPS_HD void step(float xt, float e, float noise, float guide, const DdimStepCoeffs& c, float& x_prev,
                  float& x0_out) {
  const float x0_raw = c.x0_xt * xt - c.x0_eps * e;
  float x0 = x0_raw;
  if (kGuide) x0 -= c.guidance_scale * guide;
  if (kClamp) x0 = x0 < -c.clamp ? -c.clamp : (x0 > c.clamp ? c.clamp : x0);
  const float e2 = (kGuide || kClamp) ? e + c.eps_fix * (x0_raw - x0) : e;
  float out = c.out_x0 * x0 + c.out_eps * e2;
  if (kNoise) out += c.out_noise * noise;
  x_prev = out;
  x0_out = x0;
}

VIPS_HD float invert(float xt, float e, const DdimInvertCoeffs& c) {
  const float x0 = c.x0_xt * xt - c.x0_eps * e;
  return c.out_x0 * x0 + c.out_eps * e;
}

}  // namespace vips::ddim_detail
