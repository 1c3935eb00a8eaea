// Fused DDIM update (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021, eq. 12) and the
// deterministic inversion step, over flat float32 arrays. With ab = alpha_bar (cumulative product):
//
//   x0      = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)                         predicted clean sample
//   x0     <- x0 - guidance_scale * guidance                                  optional guidance nudge
//   x0     <- clip(x0, -clamp, clamp)                                         optional, when clamp > 0
//   eps'    = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)                          noise re-derived from x0
//   sigma   = eta * sqrt((1 - ab_prev) / (1 - ab_t)) * sqrt(1 - ab_t / ab_prev)   (eq. 16)
//   x_prev  = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps' + sigma * noise   (eq. 12)
//
// eps' equals eps when x0 was neither nudged nor clamped; re-deriving it keeps x_prev consistent with the
// edited x0 (the "direction pointing to x_t" is the one that x_t and the edited x0 imply), as diffusers does
// after clipping. It is computed as eps + sqrt(ab_t / (1 - ab_t)) (x0_raw - x0), which is algebraically the
// same and exact (eps' == eps bit for bit) for untouched elements.
//
// Inversion (eta = 0, towards a noisier ab_next): x_next = sqrt(ab_next) x0 + sqrt(1 - ab_next) eps.
#pragma once

#include <cmath>
#include <cstdint>

namespace vips {

struct DdimStepCoeffs {
  float x0_xt, x0_eps;     // x0 = x0_xt * x_t - x0_eps * eps
  float guidance_scale;    // x0 -= guidance_scale * guidance
  float clamp;             // clip to [-clamp, clamp] when > 0
  float eps_fix;           // eps' = eps + eps_fix * (x0_raw - x0)
  float out_x0, out_eps, out_noise;  // x_prev = out_x0 * x0 + out_eps * eps' + out_noise * noise
};

struct DdimInvertCoeffs {
  float x0_xt, x0_eps;     // as above
  float out_x0, out_eps;   // x_next = out_x0 * x0 + out_eps * eps
};

// Coefficients in double. Callers validate: 0 < ab_t < 1, 0 < ab_prev <= 1, eta >= 0, and when eta > 0,
// ab_prev >= ab_t and sigma^2 <= 1 - ab_prev (sigma2_out reports sigma^2 for that check).
inline DdimStepCoeffs ddim_step_coeffs(double ab_t, double ab_prev, double eta, double guidance_scale,
                                       double clamp, double* sigma2_out = nullptr) {
  const double sigma = eta > 0 ? eta * std::sqrt((1 - ab_prev) / (1 - ab_t)) * std::sqrt(1 - ab_t / ab_prev) : 0.0;
  if (sigma2_out) *sigma2_out = sigma * sigma;
  const double dir2 = 1 - ab_prev - sigma * sigma;
  DdimStepCoeffs c;
  c.x0_xt = float(1 / std::sqrt(ab_t));
  c.x0_eps = float(std::sqrt((1 - ab_t) / ab_t));
  c.guidance_scale = float(guidance_scale);
  c.clamp = float(clamp);
  c.eps_fix = float(std::sqrt(ab_t / (1 - ab_t)));
  c.out_x0 = float(std::sqrt(ab_prev));
  c.out_eps = float(std::sqrt(dir2 > 0 ? dir2 : 0.0));
  c.out_noise = float(sigma);
  return c;
}

inline DdimInvertCoeffs ddim_invert_coeffs(double ab_t, double ab_next) {
  DdimInvertCoeffs c;
  c.x0_xt = float(1 / std::sqrt(ab_t));
  c.x0_eps = float(std::sqrt((1 - ab_t) / ab_t));
  c.out_x0 = float(std::sqrt(ab_next));
  c.out_eps = float(std::sqrt(1 - ab_next));
  return c;
}

// x_t, eps, x_prev, x0: n floats. noise may be null when out_noise == 0; guidance may be null (no nudge).
void ddim_step_cpu(const float* x_t, const float* eps, const float* noise, const float* guidance, int64_t n,
                   const DdimStepCoeffs& c, float* x_prev, float* x0);
void ddim_invert_cpu(const float* x_t, const float* eps, int64_t n, const DdimInvertCoeffs& c, float* x_next);

#ifdef VIPS_WITH_CUDA
void ddim_step_cuda(const float* x_t, const float* eps, const float* noise, const float* guidance, int64_t n,
                    const DdimStepCoeffs& c, float* x_prev, float* x0);
void ddim_invert_cuda(const float* x_t, const float* eps, int64_t n, const DdimInvertCoeffs& c, float* x_next);
#endif

}  // namespace vips
