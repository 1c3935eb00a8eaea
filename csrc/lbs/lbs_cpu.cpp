#include "lbs/lbs.h"

namespace vips {

void lbs_cpu(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
             int64_t P, int64_t V, int64_t K, int64_t J, float* out) {
  // Poses outer, vertices inner: one pose's J matrices stay in cache while the vertex stream passes.
#pragma omp parallel for collapse(2) schedule(static) if (P * V > 16384)
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t v = 0; v < V; ++v) {
      const float* pose = transforms + p * J * 16;
      const float x = vertices[3 * v], y = vertices[3 * v + 1], z = vertices[3 * v + 2];
      float a0 = 0.f, a1 = 0.f, a2 = 0.f;
      for (int64_t k = 0; k < K; ++k) {
        const float w = weights[K * v + k];
        if (w == 0.f) continue;
        const float* m = pose + 16 * indices[K * v + k];
        a0 += w * (m[0] * x + m[1] * y + m[2] * z + m[3]);
        a1 += w * (m[4] * x + m[5] * y + m[6] * z + m[7]);
        a2 += w * (m[8] * x + m[9] * y + m[10] * z + m[11]);
      }
      float* o = out + (p * V + v) * 3;
      o[0] = a0; o[1] = a1; o[2] = a2;
    }
  }
}

}  // namespace vips
