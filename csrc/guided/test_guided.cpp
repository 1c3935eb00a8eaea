// C++ test of the guided DDIM loop as an engine plugin drives it: a toy analytic denoiser (the exact noise
// prediction for Gaussian pose vectors around the rest pose) supplied as the callback, a 5-joint chain whose
// first joint is a ground bone above the body root, a position handle, a pin and a look-at aim. Also checks the
// energy gradient against central finite differences.
// Built when CMake runs with -DVIPS_BUILD_TESTS=ON (target test_guided, registered with CTest); exits 0 on success.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "guided/guided.h"

using vips::kGuidedPoseDim;

namespace {

int failures = 0;

void expect(bool ok, const char* what, double value) {
  std::printf("%-58s %12.6g  %s\n", what, value, ok ? "ok" : "FAIL");
  if (!ok) ++failures;
}

// Cosine schedule of python/vips/diffusion.py (Nichol & Dhariwal 2021, eq. 17), clipped to [1e-4, 1].
double alpha_bar(double t) {
  const double s = 0.008, pi = 3.14159265358979323846;
  const double f = std::cos((t + s) / (1 + s) * pi / 2), f0 = std::cos(s / (1 + s) * pi / 2);
  return std::min(1.0, std::max(1e-4, f * f / (f0 * f0)));
}

// Pose vectors ~ N(mean, sigma^2) per live channel:
// E[x0 | x_t] = mean + sqrt(ab) sigma^2 / (ab sigma^2 + 1 - ab) (x_t - sqrt(ab) mean).
struct GaussianDenoiser {
  double sigma;
  bool v_prediction;
  const std::vector<float>* mean;  // (J, 9)
  int calls = 0;
};

int gaussian_denoise(void* user, const float* x_t, int64_t B, int64_t J, float t, float* out) {
  auto* d = static_cast<GaussianDenoiser*>(user);
  ++d->calls;
  const double ab = alpha_bar(t), s2 = d->sigma * d->sigma;
  const double k = std::sqrt(ab) * s2 / (ab * s2 + 1 - ab);
  for (int64_t i = 0; i < B * J * kGuidedPoseDim; ++i) {
    const double mu = (*d->mean)[size_t(i % (J * kGuidedPoseDim))];
    const double x0 = mu + k * (x_t[i] - std::sqrt(ab) * mu);
    const double eps = (x_t[i] - std::sqrt(ab) * x0) / std::sqrt(1 - ab);
    out[i] = float(d->v_prediction ? std::sqrt(ab) * eps - std::sqrt(1 - ab) * x0 : eps);
  }
  return 0;
}

// A rotation of `angle` radians about the unit axis (x, y, z), row-major.
void axis_angle(double x, double y, double z, double angle, float* m) {
  const double n = std::sqrt(x * x + y * y + z * z), c = std::cos(angle), s = std::sin(angle), C = 1 - c;
  x /= n; y /= n; z /= n;
  const double r[9] = {c + x * x * C, x * y * C - z * s, x * z * C + y * s, y * x * C + z * s, c + y * y * C,
                       y * z * C - x * s, z * x * C - y * s, z * y * C + x * s, c + z * z * C};
  for (int k = 0; k < 9; ++k) m[k] = float(r[k]);
}

// Joint 0 is a ground bone at the origin (above the body: not live); joint 1, the body root, stands 0.25 above
// it and the chain goes up in steps of 0.25. Rest world rotations G and reference frames B are arbitrary
// rotations: the loop must not assume the rig's local axes or the reference frames line up with the world's.
struct Chain {
  static constexpr int64_t J = 5;
  std::vector<int32_t> parents{-1, 0, 1, 2, 3};
  std::vector<float> rest_rot, rest_trans, frames, ref_frames, mask, mean, canon{1, 0, 0, 0, 1, 0, 0, 0, 1};
  Chain() : frames(J * 9), ref_frames(J * 9), mask(J * kGuidedPoseDim, 0.f), mean(J * kGuidedPoseDim, 0.f) {
    for (int64_t j = 0; j < J; ++j) {
      rest_rot.insert(rest_rot.end(), {1, 0, 0, 0});
      rest_trans.insert(rest_trans.end(), {0, j == 0 ? 0.f : 0.25f, 0});
      axis_angle(0.3 + j, -0.2, 0.5 * j - 1, 0.4 * j, frames.data() + 9 * j);
      axis_angle(1, 0.7 - j, 0.2, 0.9 - 0.3 * j, ref_frames.data() + 9 * j);
      if (j == 0) continue;
      for (int c = 0; c < 6; ++c) mask[j * 9 + c] = 1.f;
      // At rest W = I, so M = B: the 6D of B (its first two columns) is the mean pose vector.
      for (int r = 0; r < 3; ++r) {
        mean[j * 9 + r] = ref_frames[9 * j + 3 * r];
        mean[j * 9 + 3 + r] = ref_frames[9 * j + 3 * r + 1];
      }
    }
    mask[1 * 9 + 7] = 1.f;
    mean[1 * 9 + 7] = 0.25f;
  }
  vips::GuidedRig rig() const {
    vips::GuidedRig r;
    r.J = J;
    r.parents = parents.data();
    r.rest_rotations = rest_rot.data();
    r.rest_translations = rest_trans.data();
    r.frames = frames.data();
    r.reference_frames = ref_frames.data();
    r.channel_mask = mask.data();
    r.canonical_rotation = canon.data();
    r.body_root = 1;
    r.rest_body_height = 0.25f;
    r.height = 1.0f;
    return r;
  }
};

double dist(const float* p, const float* q) {
  return std::sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
}

void test_gradient(const Chain& chain) {
  const vips::GuidedRig rig = chain.rig();
  const int32_t hj[2] = {4, 2};
  const float targets[6] = {0.4f, 0.5f, 0.2f, -0.1f, 0.3f, 0.1f}, weights[2] = {1.0f, 0.5f};
  const int32_t ab[1] = {3}, ae[1] = {4};
  const float at[3] = {0.0f, 0.0f, 2.0f}, aw[1] = {0.0f};  // aim weight 0: the FD check covers handles only
  vips::GuidedHandles h;
  h.H = 2; h.joints = hj; h.targets = targets; h.weights = weights;
  h.A = 1; h.aim_base = ab; h.aim_end = ae; h.aim_targets = at; h.aim_weights = aw;
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.f, 0.3f);
  const int64_t n = Chain::J * kGuidedPoseDim;
  std::vector<float> x(n), g(n);
  for (int64_t i = 0; i < n; ++i) x[i] = (chain.mean[i] + normal(gen)) * chain.mask[i];
  float e0;
  vips::guided_energy_grad_cpu(rig, h, 1, x.data(), &e0, g.data(), nullptr);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (chain.mask[i] == 0.f) {
      worst = std::max(worst, double(std::fabs(g[i])));  // masked channels: zero gradient
      continue;
    }
    std::vector<float> xp = x, xm = x;
    const float eps = 1e-3f;
    xp[i] += eps; xm[i] -= eps;
    float ep, em;
    vips::guided_energy_grad_cpu(rig, h, 1, xp.data(), &ep, nullptr, nullptr);
    vips::guided_energy_grad_cpu(rig, h, 1, xm.data(), &em, nullptr, nullptr);
    const double fd = (double(ep) - double(em)) / (2 * eps);
    worst = std::max(worst, std::fabs(fd - g[i]));
    scale = std::max(scale, std::fabs(fd));
  }
  expect(worst <= 2e-3 * std::max(1.0, scale), "energy gradient vs finite differences (max abs diff)", worst);
}

void test_ik(const Chain& chain, bool v_prediction) {
  const vips::GuidedRig rig = chain.rig();
  const int64_t steps = 10, B = 2;
  std::vector<double> ab(steps + 1), t(steps + 1);
  for (int64_t i = 0; i <= steps; ++i) {
    t[i] = 1.0 - double(i) / steps;
    ab[i] = alpha_bar(t[i]);
  }
  // Handle on the chain's tip, the body root pinned where it stands at rest.
  const int32_t hj[2] = {4, 1};
  const float targets[6] = {0.45f, 0.6f, 0.0f, 0.0f, 0.25f, 0.0f}, weights[2] = {1.0f, 1.0f};
  vips::GuidedHandles h;
  h.H = 2; h.joints = hj; h.targets = targets; h.weights = weights;
  vips::GuidedSchedule s;
  s.steps = steps; s.alpha_bars = ab.data(); s.times = t.data(); s.v_prediction = v_prediction;
  s.iterations = 2; s.final_iterations = 6;
  GaussianDenoiser den{0.3, v_prediction, &chain.mean};
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> xT(B * Chain::J * kGuidedPoseDim), x0(xT.size()), pos(B * Chain::J * 3);
  for (auto& v : xT) v = normal(gen);
  float energy[B];
  const int rc = vips::guided_sample_cpu(rig, h, s, &gaussian_denoise, &den, B, xT.data(), x0.data(), energy,
                                         pos.data());
  const char* tag = v_prediction ? "(v)" : "(eps)";
  char what[128];
  std::snprintf(what, sizeof what, "guided_sample returns 0 %s", tag);
  expect(rc == 0 && den.calls == steps, what, rc);
  for (int64_t b = 0; b < B; ++b) {
    const float* p = pos.data() + b * Chain::J * 3;
    std::snprintf(what, sizeof what, "pose %lld: tip handle error / height %s", (long long)b, tag);
    expect(dist(p + 12, targets) <= 0.02, what, dist(p + 12, targets));
    std::snprintf(what, sizeof what, "pose %lld: pinned body root drift / height %s", (long long)b, tag);
    expect(dist(p + 3, targets + 3) <= 0.02, what, dist(p + 3, targets + 3));
    bool finite = true;
    for (int64_t i = 0; i < Chain::J * kGuidedPoseDim; ++i) {
      const float v = x0[b * Chain::J * 9 + i];
      finite &= std::isfinite(v) && (chain.mask[size_t(i)] != 0.f || v == 0.f);
    }
    std::snprintf(what, sizeof what, "pose %lld: finite pose vectors, masked channels zero %s", (long long)b, tag);
    expect(finite, what, finite);
    // The ground bone stays above the body root: straight below it by the rest offset.
    const double below = std::fabs(p[0] - p[3]) + std::fabs(p[1] - p[4] + 0.25) + std::fabs(p[2] - p[5]);
    std::snprintf(what, sizeof what, "pose %lld: ground bone kept at rest under the body %s", (long long)b, tag);
    expect(below <= 1e-5, what, below);
  }
}

void test_aim(const Chain& chain) {
  const vips::GuidedRig rig = chain.rig();
  const int64_t steps = 8;
  std::vector<double> ab(steps + 1), t(steps + 1);
  for (int64_t i = 0; i <= steps; ++i) {
    t[i] = 1.0 - double(i) / steps;
    ab[i] = alpha_bar(t[i]);
  }
  const int32_t hj[1] = {1};
  const float targets[3] = {0, 0.25f, 0}, weights[1] = {1};
  const int32_t ab_[1] = {3}, ae[1] = {4};
  const float at[3] = {1.0f, 0.75f, 0.0f}, aw[1] = {1.0f};
  vips::GuidedHandles h;
  h.H = 1; h.joints = hj; h.targets = targets; h.weights = weights;
  h.A = 1; h.aim_base = ab_; h.aim_end = ae; h.aim_targets = at; h.aim_weights = aw;
  vips::GuidedSchedule s;
  s.steps = steps; s.alpha_bars = ab.data(); s.times = t.data(); s.v_prediction = true;
  s.iterations = 2; s.final_iterations = 6;
  GaussianDenoiser den{0.3, true, &chain.mean};
  std::vector<float> xT(Chain::J * kGuidedPoseDim, 0.f), x0(xT.size()), pos(Chain::J * 3);
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (auto& v : xT) v = normal(gen);
  float energy;
  vips::guided_sample_cpu(rig, h, s, &gaussian_denoise, &den, 1, xT.data(), x0.data(), &energy, pos.data());
  const float* pb = pos.data() + 9;
  const float* pe = pos.data() + 12;
  double bone[3] = {pe[0] - pb[0], pe[1] - pb[1], pe[2] - pb[2]}, dir[3] = {at[0] - pb[0], at[1] - pb[1], at[2] - pb[2]};
  const double c = (bone[0] * dir[0] + bone[1] * dir[1] + bone[2] * dir[2]) /
                   std::sqrt((bone[0] * bone[0] + bone[1] * bone[1] + bone[2] * bone[2]) *
                             (dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]));
  expect(c >= 0.995, "look-at: cosine between bone 3->4 and the aim direction", c);
}

}  // namespace

int main() {
  const Chain chain;
  test_gradient(chain);
  test_ik(chain, false);
  test_ik(chain, true);
  test_aim(chain);
  std::printf("%s (%d failure%s)\n", failures ? "FAILED" : "passed", failures, failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
