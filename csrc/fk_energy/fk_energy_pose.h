// The per-pose FK + energy + gradient walk shared by the CPU and CUDA kernels (see fk_energy.h for the math).
// `Scratch` gives 18 reals per joint: world rotation (9, row-major), world position (3), force sum F (3) and
// moment sum M (3); the CPU passes a contiguous buffer, CUDA a pose-interleaved one so warps read coalesced.
#pragma once

#include <cstdint>

#include "core/rotation.h"

namespace vips::fk_energy_detail {

enum : int { kRot = 0, kPos = 9, kForce = 12, kMoment = 15, kStride = 18 };

template <typename Real>
VIPS_HD void quat_to_rot(const float* q, Real* m) {
  const Real w = q[0], x = q[1], y = q[2], z = q[3];
  const Real n2 = w * w + x * x + y * y + z * z;
  const Real s = n2 > Real(0) ? Real(2) / n2 : Real(0);
  const Real xx = x * x * s, yy = y * y * s, zz = z * z * s;
  const Real xy = x * y * s, xz = x * z * s, yz = y * z * s;
  const Real wx = w * x * s, wy = w * y * s, wz = w * z * s;
  m[0] = Real(1) - yy - zz; m[1] = xy - wz;            m[2] = xz + wy;
  m[3] = xy + wz;           m[4] = Real(1) - xx - zz;  m[5] = yz - wx;
  m[6] = xz - wy;           m[7] = yz + wx;            m[8] = Real(1) - xx - yy;
}

// Returns E for one pose; writes positions, grad_rotation and grad_translation (each J * 3) for that pose.
// A parent outside [-1, j) is treated as a root and a handle joint outside [0, J) is skipped: the bindings
// reject both, this only keeps a device kernel from reading out of bounds.
template <typename Real, typename Scratch>
VIPS_HD Real pose_energy_grad(const float* q, const float* t, const int32_t* parents, const int32_t* hjoint,
                              const float* target, const float* hweight, int64_t J, int64_t H, Scratch s,
                              float* positions, float* grad_rotation, float* grad_translation) {
  for (int64_t j = 0; j < J; ++j) {
    Real r[9];
    quat_to_rot<Real>(q + 4 * j, r);
    const int32_t p = parents[j];
    if (p < 0 || p >= j) {
      for (int k = 0; k < 9; ++k) s(j, kRot + k) = r[k];
      for (int k = 0; k < 3; ++k) s(j, kPos + k) = Real(t[3 * j + k]);
    } else {
      for (int a = 0; a < 3; ++a) {
        const Real pa0 = s(p, kRot + 3 * a), pa1 = s(p, kRot + 3 * a + 1), pa2 = s(p, kRot + 3 * a + 2);
        for (int c = 0; c < 3; ++c) s(j, kRot + 3 * a + c) = pa0 * r[c] + pa1 * r[3 + c] + pa2 * r[6 + c];
        s(j, kPos + a) = s(p, kPos + a) + pa0 * Real(t[3 * j]) + pa1 * Real(t[3 * j + 1]) + pa2 * Real(t[3 * j + 2]);
      }
    }
    for (int k = 0; k < 6; ++k) s(j, kForce + k) = Real(0);
  }
  if (J == 0) return Real(0);
  // Moments about the first joint: keeps the float32 cancellation in M_j - (p_j - c) x F_j small when the
  // character stands far from the origin.
  const Real c0 = s(0, kPos), c1 = s(0, kPos + 1), c2 = s(0, kPos + 2);
  Real energy = Real(0);
  for (int64_t h = 0; h < H; ++h) {
    const int32_t j = hjoint[h];
    if (j < 0 || j >= J) continue;
    const Real w = hweight[h];
    const Real d0 = s(j, kPos) - target[3 * h], d1 = s(j, kPos + 1) - target[3 * h + 1],
               d2 = s(j, kPos + 2) - target[3 * h + 2];
    energy += w * (d0 * d0 + d1 * d1 + d2 * d2);
    const Real f0 = 2 * w * d0, f1 = 2 * w * d1, f2 = 2 * w * d2;
    const Real r0 = s(j, kPos) - c0, r1 = s(j, kPos + 1) - c1, r2 = s(j, kPos + 2) - c2;
    s(j, kForce) += f0; s(j, kForce + 1) += f1; s(j, kForce + 2) += f2;
    s(j, kMoment) += r1 * f2 - r2 * f1;
    s(j, kMoment + 1) += r2 * f0 - r0 * f2;
    s(j, kMoment + 2) += r0 * f1 - r1 * f0;
  }
  for (int64_t j = J - 1; j >= 0; --j) {
    const Real F0 = s(j, kForce), F1 = s(j, kForce + 1), F2 = s(j, kForce + 2);
    const Real r0 = s(j, kPos) - c0, r1 = s(j, kPos + 1) - c1, r2 = s(j, kPos + 2) - c2;
    // Torque about joint j in world space, then into j's frame (W_j^T).
    const Real m0 = s(j, kMoment) - (r1 * F2 - r2 * F1);
    const Real m1 = s(j, kMoment + 1) - (r2 * F0 - r0 * F2);
    const Real m2 = s(j, kMoment + 2) - (r0 * F1 - r1 * F0);
    for (int c = 0; c < 3; ++c)
      grad_rotation[3 * j + c] = float(s(j, kRot + c) * m0 + s(j, kRot + 3 + c) * m1 + s(j, kRot + 6 + c) * m2);
    const int32_t p = parents[j];
    if (p < 0 || p >= j) {
      grad_translation[3 * j] = float(F0); grad_translation[3 * j + 1] = float(F1); grad_translation[3 * j + 2] = float(F2);
    } else {
      for (int c = 0; c < 3; ++c)
        grad_translation[3 * j + c] =
            float(s(p, kRot + c) * F0 + s(p, kRot + 3 + c) * F1 + s(p, kRot + 6 + c) * F2);
      for (int k = 0; k < 6; ++k) s(p, kForce + k) += s(j, kForce + k);
    }
    for (int c = 0; c < 3; ++c) positions[3 * j + c] = float(s(j, kPos + c));
  }
  return energy;
}

}  // namespace vips::fk_energy_detail
