#include <nanobind/stl/optional.h>

#include <cmath>
#include <optional>
#include <string>

#include "common/array_checks.h"
#include "ddim/ddim.h"

namespace vips::bind {

namespace {
// float32, C-contiguous, same shape and device as `ref` (any rank: the kernels see flat arrays).
void check_like(const Array& a, const Array& ref, Device dev, const char* k, const char* arg) {
  if (a.dtype() != nb::dtype<float>()) fail(k, arg, "must have dtype float32, got " + dtype_name(a.dtype()));
  bool same = a.ndim() == ref.ndim();
  for (size_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == ref.shape(i);
  if (!same) fail(k, arg, "has shape " + shape_string(a) + " but must match x_t's shape " + shape_string(ref));
  if (!is_c_contiguous(a)) fail(k, arg, "must be C-contiguous (call numpy.ascontiguousarray or .contiguous())");
  same_device(device_of(a, k, arg), dev, k, arg);
}

Device check_xt(const Array& x_t, const char* k) {
  if (x_t.dtype() != nb::dtype<float>()) fail(k, "x_t", "must have dtype float32, got " + dtype_name(x_t.dtype()));
  if (!is_c_contiguous(x_t)) fail(k, "x_t", "must be C-contiguous (call numpy.ascontiguousarray or .contiguous())");
  return device_of(x_t, k, "x_t");
}

void check_alpha_bar(double v, const char* k, const char* arg, bool allow_one) {
  if (!(v > 0.0 && (allow_one ? v <= 1.0 : v < 1.0)))
    fail(k, arg, std::string("must lie in (0, 1") + (allow_one ? "]" : ")") + ", got " + std::to_string(v));
}
}  // namespace

static void ddim_step(const Array& x_t, const Array& eps, double alpha_bar_t, double alpha_bar_prev, double eta,
                      std::optional<Array> noise, std::optional<Array> guidance, double guidance_scale,
                      double clamp, const Array& x_prev, const Array& x0) {
  const char* k = "ddim_step";
  const Device dev = check_xt(x_t, k);
  check_like(eps, x_t, dev, k, "eps");
  check_like(x_prev, x_t, dev, k, "x_prev");
  check_like(x0, x_t, dev, k, "x0");
  check_alpha_bar(alpha_bar_t, k, "alpha_bar_t", false);
  check_alpha_bar(alpha_bar_prev, k, "alpha_bar_prev", true);
  if (!(eta >= 0.0) || !std::isfinite(eta)) fail(k, "eta", "must be finite and >= 0, got " + std::to_string(eta));
  if (eta > 0.0 && alpha_bar_prev < alpha_bar_t)
    fail(k, "alpha_bar_prev", "must be >= alpha_bar_t when eta > 0 (a DDIM step goes towards less noise); got " +
                                  std::to_string(alpha_bar_prev) + " < " + std::to_string(alpha_bar_t) +
                                  " (use ddim_invert_step to add noise)");
  if (!std::isfinite(guidance_scale)) fail(k, "guidance_scale", "must be finite");
  if (!(clamp >= 0.0) || !std::isfinite(clamp)) fail(k, "clamp", "must be finite and >= 0 (0 disables clipping)");
  double sigma2 = 0.0;
  const DdimStepCoeffs c = ddim_step_coeffs(alpha_bar_t, alpha_bar_prev, eta, guidance_scale, clamp, &sigma2);
  if (sigma2 > (1.0 - alpha_bar_prev) * (1.0 + 1e-6))
    fail(k, "eta", "is too large: sigma^2 = " + std::to_string(sigma2) + " exceeds 1 - alpha_bar_prev = " +
                       std::to_string(1.0 - alpha_bar_prev) + " (eta <= 1 always works)");
  const float* noise_ptr = nullptr;
  if (noise) {
    check_like(*noise, x_t, dev, k, "noise");
    noise_ptr = ptr<float>(*noise);
  } else if (c.out_noise != 0.f) {
    fail(k, "noise", "is required when eta > 0 (pass standard normal noise of x_t's shape)");
  }
  const float* guidance_ptr = nullptr;
  if (guidance) {
    check_like(*guidance, x_t, dev, k, "guidance");
    guidance_ptr = ptr<float>(*guidance);
  }
  const int64_t n = int64_t(x_t.size());
  if (dev == Device::CPU) {
    nb::gil_scoped_release release;
    ddim_step_cpu(ptr<float>(x_t), ptr<float>(eps), noise_ptr, guidance_ptr, n, c, ptr<float>(x_prev),
                  ptr<float>(x0));
  } else {
#ifdef VIPS_WITH_CUDA
    nb::gil_scoped_release release;
    ddim_step_cuda(ptr<float>(x_t), ptr<float>(eps), noise_ptr, guidance_ptr, n, c, ptr<float>(x_prev),
                   ptr<float>(x0));
#else
    no_cuda(k);
#endif
  }
}

static void ddim_invert(const Array& x_t, const Array& eps, double alpha_bar_t, double alpha_bar_next,
                        const Array& x_next) {
  const char* k = "ddim_invert_step";
  const Device dev = check_xt(x_t, k);
  check_like(eps, x_t, dev, k, "eps");
  check_like(x_next, x_t, dev, k, "x_next");
  check_alpha_bar(alpha_bar_t, k, "alpha_bar_t", true);
  check_alpha_bar(alpha_bar_next, k, "alpha_bar_next", true);
  const DdimInvertCoeffs c = ddim_invert_coeffs(alpha_bar_t, alpha_bar_next);
  const int64_t n = int64_t(x_t.size());
  if (dev == Device::CPU) {
    nb::gil_scoped_release release;
    ddim_invert_cpu(ptr<float>(x_t), ptr<float>(eps), n, c, ptr<float>(x_next));
  } else {
#ifdef VIPS_WITH_CUDA
    nb::gil_scoped_release release;
    ddim_invert_cuda(ptr<float>(x_t), ptr<float>(eps), n, c, ptr<float>(x_next));
#else
    no_cuda(k);
#endif
  }
}

void bind_ddim(nb::module_& m) {
  m.def("ddim_step", &ddim_step, nb::arg("x_t"), nb::arg("eps"), nb::arg("alpha_bar_t"), nb::arg("alpha_bar_prev"),
        nb::arg("eta"), nb::arg("noise").none(), nb::arg("guidance").none(), nb::arg("guidance_scale"),
        nb::arg("clamp"), nb::arg("x_prev"), nb::arg("x0"),
        "Fused DDIM step (Song et al. 2021, eq. 12) into x_prev and x0; every array float32, C-contiguous, of "
        "x_t's shape. noise is needed when eta > 0; guidance (optional) is subtracted from x0 times "
        "guidance_scale; clamp > 0 clips x0 to [-clamp, clamp].");
  m.def("ddim_invert_step", &ddim_invert, nb::arg("x_t"), nb::arg("eps"), nb::arg("alpha_bar_t"),
        nb::arg("alpha_bar_next"), nb::arg("x_next"),
        "Deterministic DDIM inversion step into x_next: sqrt(ab_next) x0 + sqrt(1 - ab_next) eps.");
}

}  // namespace vips::bind
