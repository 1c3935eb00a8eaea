// Small rotation helpers shared by the CPU and CUDA kernels (host and device inline functions).
#pragma once

#ifdef __CUDACC__
#define VIPS_HD __host__ __device__ __forceinline__
#else
#define VIPS_HD inline
#endif

namespace vips {

// Unit quaternion (w, x, y, z) and translation to a row-major 4x4 affine matrix. The quaternion is
// normalized here so slightly denormalized inputs (float32 round-off) still give a rotation.
VIPS_HD void quat_to_affine(const float* q, const float* t, float* m) {
  float w = q[0], x = q[1], y = q[2], z = q[3];
  const float n2 = w * w + x * x + y * y + z * z;
  const float s = n2 > 0.f ? 2.f / n2 : 0.f;
  const float xx = x * x * s, yy = y * y * s, zz = z * z * s;
  const float xy = x * y * s, xz = x * z * s, yz = y * z * s;
  const float wx = w * x * s, wy = w * y * s, wz = w * z * s;
  m[0] = 1.f - yy - zz; m[1] = xy - wz;        m[2] = xz + wy;        m[3] = t[0];
  m[4] = xy + wz;       m[5] = 1.f - xx - zz;  m[6] = yz - wx;        m[7] = t[1];
  m[8] = xz - wy;       m[9] = yz + wx;        m[10] = 1.f - xx - yy; m[11] = t[2];
  m[12] = 0.f;          m[13] = 0.f;           m[14] = 0.f;           m[15] = 1.f;
}

// c = a @ b for affine row-major 4x4 matrices (last row 0 0 0 1); c must not alias a or b.
VIPS_HD void affine_mul(const float* a, const float* b, float* c) {
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < 4; ++k) {
      c[4 * r + k] = a[4 * r + 0] * b[k] + a[4 * r + 1] * b[4 + k] + a[4 * r + 2] * b[8 + k] +
                     (k == 3 ? a[4 * r + 3] : 0.f);
    }
  }
  c[12] = 0.f; c[13] = 0.f; c[14] = 0.f; c[15] = 1.f;
}

}  // namespace vips
