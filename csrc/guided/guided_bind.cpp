// Python face of the guided DDIM loop: the denoiser callback is any Python callable
// `denoise(x_t: (B, J, 9) float32 ndarray, t: float) -> (B, J, 9) float32 array-like`.
#include <nanobind/ndarray.h>

#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "common/array_checks.h"
#include "guided/guided.h"

namespace vips::bind {

namespace {

GuidedRig make_rig(const Array& parents, const Array& rest_rotations, const Array& rest_translations,
                   const Array& frames, const Array& reference_frames, const Array& channel_mask,
                   const Array& canonical_rotation, int64_t body_root, double rest_body_height, double height,
                   const char* k) {
  check<int32_t>(parents, k, "parents", {-1});
  const int64_t J = parents.shape(0);
  if (J < 1) fail(k, "parents", "must hold at least one joint");
  check<float>(rest_rotations, k, "rest_rotations", {J, 4});
  check<float>(rest_translations, k, "rest_translations", {J, 3});
  check<float>(frames, k, "frames", {J, 3, 3});
  check<float>(reference_frames, k, "reference_frames", {J, 3, 3});
  check<float>(channel_mask, k, "channel_mask", {J, kGuidedPoseDim});
  check<float>(canonical_rotation, k, "canonical_rotation", {3, 3});
  const Array* all[] = {&parents, &rest_rotations, &rest_translations, &frames, &reference_frames, &channel_mask,
                        &canonical_rotation};
  for (const Array* a : all)
    if (device_of(*a, k, "rig arrays") != Device::CPU) fail(k, "rig arrays", "must live on the CPU");
  const int32_t* par = ptr<int32_t>(parents);
  if (par[0] != -1) fail(k, "parents", "must have the root first (parents[0] == -1)");
  for (int64_t j = 1; j < J; ++j)
    if (par[j] < 0 || par[j] >= j)
      fail(k, "parents", "must satisfy 0 <= parents[j] < j for j > 0 (joint " + std::to_string(j) + " has parent " +
                             std::to_string(par[j]) + "); one root, topologically ordered");
  if (!(height > 0) || !std::isfinite(height)) fail(k, "height", "must be a positive finite number");
  if (body_root < 0 || body_root >= J) fail(k, "body_root", "must be a joint index in [0, J)");
  if (!std::isfinite(rest_body_height)) fail(k, "rest_body_height", "must be finite");
  // What the pose encoding writes: the joints above the body root are masked, the body root is live, and the
  // masked joints below it (helpers, kept at rest relative to their parent) hold whole leaf subtrees.
  std::vector<char> above(static_cast<size_t>(J), 0);
  for (int32_t a = par[body_root]; a >= 0; a = par[a]) above[static_cast<size_t>(a)] = 1;
  const float* cm = ptr<float>(channel_mask);
  for (int64_t j = 0; j < J; ++j) {
    const bool live = cm[j * kGuidedPoseDim] > 0.f;
    const bool ok = above[static_cast<size_t>(j)]
                        ? !live
                        : (j == body_root ? live : !live || cm[int64_t(par[j]) * kGuidedPoseDim] > 0.f);
    if (!ok)
      fail(k, "channel_mask", "must be masked above body_root, live on body_root and on every joint below it whose "
                              "parent is live, but for helpers (whole leaf subtrees masked); joint " +
                                  std::to_string(j) + " disagrees; use vips.pose_encoding.channel_mask");
  }
  if (!(cm[body_root * kGuidedPoseDim + 7] > 0.f)) fail(k, "channel_mask", "must be live on channel 7 of body_root");
  GuidedRig rig;
  rig.J = J;
  rig.parents = par;
  rig.rest_rotations = ptr<float>(rest_rotations);
  rig.rest_translations = ptr<float>(rest_translations);
  rig.frames = ptr<float>(frames);
  rig.reference_frames = ptr<float>(reference_frames);
  rig.channel_mask = cm;
  rig.canonical_rotation = ptr<float>(canonical_rotation);
  rig.body_root = body_root;
  rig.rest_body_height = float(rest_body_height);
  rig.height = float(height);
  return rig;
}

GuidedHandles make_handles(const Array& joints, const Array& targets, const Array& weights, const Array& aim_base,
                           const Array& aim_end, const Array& aim_targets, const Array& aim_weights, int64_t B,
                           int64_t J, const char* k) {
  check<int32_t>(joints, k, "handle_joints", {-1});
  const int64_t H = joints.shape(0);
  GuidedHandles h;
  h.H = H;
  if (targets.ndim() == 3) {
    check<float>(targets, k, "handle_targets", {B, H, 3});
    h.target_batch_stride = H * 3;
  } else {
    check<float>(targets, k, "handle_targets", {H, 3});
  }
  check<float>(weights, k, "handle_weights", {H});
  check<int32_t>(aim_base, k, "aim_base", {-1});
  const int64_t A = aim_base.shape(0);
  check<int32_t>(aim_end, k, "aim_end", {A});
  check<float>(aim_targets, k, "aim_targets", {A, 3});
  check<float>(aim_weights, k, "aim_weights", {A});
  const Array* all[] = {&joints, &targets, &weights, &aim_base, &aim_end, &aim_targets, &aim_weights};
  for (const Array* a : all)
    if (device_of(*a, k, "handle arrays") != Device::CPU) fail(k, "handle arrays", "must live on the CPU");
  const int32_t* hj = ptr<int32_t>(joints);
  for (int64_t i = 0; i < H; ++i)
    if (hj[i] < 0 || hj[i] >= J) fail(k, "handle_joints", "holds joint " + std::to_string(hj[i]) + ", outside [0, J)");
  const int32_t *ab = ptr<int32_t>(aim_base), *ae = ptr<int32_t>(aim_end);
  for (int64_t i = 0; i < A; ++i)
    if (ab[i] < 0 || ab[i] >= J || ae[i] < 0 || ae[i] >= J || ab[i] == ae[i])
      fail(k, "aim_base/aim_end", "must name two different joints in [0, J) (aim " + std::to_string(i) + ")");
  h.joints = hj;
  h.targets = ptr<float>(targets);
  h.weights = ptr<float>(weights);
  h.A = A;
  h.aim_base = ab;
  h.aim_end = ae;
  h.aim_targets = ptr<float>(aim_targets);
  h.aim_weights = ptr<float>(aim_weights);
  return h;
}

void check_x(const Array& x, int64_t J, const char* k, const char* arg) {
  check<float>(x, k, arg, {-1, J, kGuidedPoseDim});
  if (device_of(x, k, arg) != Device::CPU) fail(k, arg, "must live on the CPU");
}

// Carries the Python callable into the C callback and a Python exception back out of it.
struct Callback {
  nb::callable fn;
  std::exception_ptr error;
};

int trampoline(void* user, const float* x_t, int64_t B, int64_t J, float t, float* prediction) {
  auto* cb = static_cast<Callback*>(user);
  try {
    // The callable gets its own copy: it may keep a reference after returning.
    const size_t n = size_t(B * J * kGuidedPoseDim);
    float* copy = new float[n];
    std::memcpy(copy, x_t, sizeof(float) * n);
    nb::capsule owner(copy, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    const size_t shape[3] = {size_t(B), size_t(J), size_t(kGuidedPoseDim)};
    nb::ndarray<nb::numpy, float> arr(copy, 3, shape, owner);
    nb::object out = cb->fn(arr, double(t));
    auto res = nb::cast<nb::ndarray<const float, nb::c_contig, nb::device::cpu>>(out);
    if (res.size() != n)
      throw nb::value_error(("vips.native.guided_sample: the denoiser returned " + std::to_string(res.size()) +
                             " values, expected " + std::to_string(n) + " (shape (B, J, 9) float32)").c_str());
    std::memcpy(prediction, res.data(), sizeof(float) * n);
    return 0;
  } catch (...) {
    cb->error = std::current_exception();
    return 1;
  }
}

}  // namespace

static void guided_sample(const Array& x_T, nb::callable denoise, const Array& parents, const Array& rest_rotations,
                          const Array& rest_translations, const Array& frames, const Array& reference_frames,
                          const Array& channel_mask, const Array& canonical_rotation, int64_t body_root,
                          double rest_body_height, double height, const Array& handle_joints, const Array& handle_targets,
                          const Array& handle_weights, const Array& aim_base, const Array& aim_end,
                          const Array& aim_targets, const Array& aim_weights, const Array& alpha_bars,
                          const Array& times, bool v_prediction, double damping, int iterations,
                          int final_iterations, double clamp, const Array& x0, const Array& energy,
                          const Array& positions) {
  const char* k = "guided_sample";
  GuidedRig rig = make_rig(parents, rest_rotations, rest_translations, frames, reference_frames, channel_mask,
                           canonical_rotation, body_root, rest_body_height, height, k);
  check_x(x_T, rig.J, k, "x_T");
  const int64_t B = x_T.shape(0);
  check_x(x0, rig.J, k, "x0");
  if (int64_t(x0.shape(0)) != B) fail(k, "x0", "must have x_T's shape");
  GuidedHandles h = make_handles(handle_joints, handle_targets, handle_weights, aim_base, aim_end, aim_targets,
                                 aim_weights, B, rig.J, k);
  check<double>(alpha_bars, k, "alpha_bars", {-1});
  const int64_t steps = int64_t(alpha_bars.shape(0)) - 1;
  if (steps < 1) fail(k, "alpha_bars", "must hold steps + 1 >= 2 noise levels");
  check<double>(times, k, "times", {steps + 1});
  const double* ab = ptr<double>(alpha_bars);
  for (int64_t i = 0; i <= steps; ++i) {
    const bool last = i == steps;
    if (!(ab[i] > 0 && (last ? ab[i] <= 1 : ab[i] < 1)))
      fail(k, "alpha_bars", "must lie in (0, 1) (the last level in (0, 1]); level " + std::to_string(i) + " is " +
                                std::to_string(ab[i]));
  }
  if (!(damping > 0) || !std::isfinite(damping)) fail(k, "damping", "must be positive");
  if (iterations < 0 || final_iterations < 0) fail(k, "iterations", "must be >= 0");
  check<float>(energy, k, "energy", {B});
  check<float>(positions, k, "positions", {B, rig.J, 3});
  GuidedSchedule s;
  s.steps = steps;
  s.alpha_bars = ab;
  s.times = ptr<double>(times);
  s.v_prediction = v_prediction;
  s.damping = float(damping);
  s.iterations = iterations;
  s.final_iterations = final_iterations;
  s.clamp = float(clamp);
  Callback cb{std::move(denoise), nullptr};
  // The GIL stays held: the loop calls back into Python at every step and its own work is microseconds.
  const int rc = guided_sample_cpu(rig, h, s, &trampoline, &cb, B, ptr<float>(x_T), ptr<float>(x0),
                                   ptr<float>(energy), ptr<float>(positions));
  if (cb.error) std::rethrow_exception(cb.error);
  if (rc != 0) throw nb::value_error("vips.native.guided_sample: the denoiser callback failed");
}

static void guided_energy_grad(const Array& x, const Array& parents, const Array& rest_rotations,
                               const Array& rest_translations, const Array& frames, const Array& reference_frames,
                               const Array& channel_mask, const Array& canonical_rotation, int64_t body_root,
                               double rest_body_height, double height, const Array& handle_joints, const Array& handle_targets,
                               const Array& handle_weights, const Array& aim_base, const Array& aim_end,
                               const Array& aim_targets, const Array& aim_weights, const Array& energy,
                               const Array& grad, const Array& positions, const Array& local_rotations,
                               const Array& local_translations) {
  const char* k = "guided_energy_grad";
  GuidedRig rig = make_rig(parents, rest_rotations, rest_translations, frames, reference_frames, channel_mask,
                           canonical_rotation, body_root, rest_body_height, height, k);
  check_x(x, rig.J, k, "x");
  const int64_t B = x.shape(0);
  GuidedHandles h = make_handles(handle_joints, handle_targets, handle_weights, aim_base, aim_end, aim_targets,
                                 aim_weights, B, rig.J, k);
  check<float>(energy, k, "energy", {B});
  check<float>(grad, k, "grad", {B, rig.J, kGuidedPoseDim});
  check<float>(positions, k, "positions", {B, rig.J, 3});
  check<float>(local_rotations, k, "local_rotations", {B, rig.J, 4});
  check<float>(local_translations, k, "local_translations", {B, rig.J, 3});
  nb::gil_scoped_release release;
  guided_energy_grad_cpu(rig, h, B, ptr<float>(x), ptr<float>(energy), ptr<float>(grad), ptr<float>(positions));
  guided_decode_cpu(rig, B, ptr<float>(x), ptr<float>(local_rotations), ptr<float>(local_translations));
}

void bind_guided(nb::module_& m) {
  m.def("guided_sample", &guided_sample, nb::arg("x_T"), nb::arg("denoise"), nb::arg("parents"),
        nb::arg("rest_rotations"), nb::arg("rest_translations"), nb::arg("frames"), nb::arg("reference_frames"),
        nb::arg("channel_mask"), nb::arg("canonical_rotation"), nb::arg("body_root"), nb::arg("rest_body_height"),
        nb::arg("height"), nb::arg("handle_joints"), nb::arg("handle_targets"), nb::arg("handle_weights"),
        nb::arg("aim_base"), nb::arg("aim_end"), nb::arg("aim_targets"), nb::arg("aim_weights"),
        nb::arg("alpha_bars"), nb::arg("times"), nb::arg("v_prediction"), nb::arg("damping"),
        nb::arg("iterations"), nb::arg("final_iterations"), nb::arg("clamp"), nb::arg("x0"), nb::arg("energy"),
        nb::arg("positions"),
        "Guided DDIM loop (manifold IK) of csrc/guided/guided.h with a Python denoiser callback "
        "denoise(x_t (B, J, 9) float32, t float) -> prediction (B, J, 9). CPU only. Writes x0 (B, J, 9), "
        "energy (B,) and positions (B, J, 3).");
  m.def("guided_energy_grad", &guided_energy_grad, nb::arg("x"), nb::arg("parents"), nb::arg("rest_rotations"),
        nb::arg("rest_translations"), nb::arg("frames"), nb::arg("reference_frames"), nb::arg("channel_mask"),
        nb::arg("canonical_rotation"), nb::arg("body_root"), nb::arg("rest_body_height"), nb::arg("height"),
        nb::arg("handle_joints"), nb::arg("handle_targets"), nb::arg("handle_weights"), nb::arg("aim_base"),
        nb::arg("aim_end"), nb::arg("aim_targets"), nb::arg("aim_weights"), nb::arg("energy"), nb::arg("grad"),
        nb::arg("positions"), nb::arg("local_rotations"), nb::arg("local_translations"),
        "Height-normalized handle energy of pose vectors x (B, J, 9), its gradient w.r.t. x, the joint "
        "positions and the decoded local rotations / translations (what the guided loop uses each iteration).");
}

}  // namespace vips::bind
