#include "fk/fk.h"

#include "core/rotation.h"

namespace vips {

void fk_cpu(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
            const int32_t* parents, int64_t B, int64_t J, float* world) {
  // Dynamic runs of poses: a thread that loses its core to another process holds up only its current run.
#pragma omp parallel for schedule(dynamic, 16) if (B * J > 4096)
  for (int64_t b = 0; b < B; ++b) {
    const float* q = local_rotations + b * J * 4;
    const float* t = local_translations + b * translation_batch_stride;
    float* w = world + b * J * 16;
    for (int64_t j = 0; j < J; ++j) {
      float local[16];
      quat_to_affine(q + 4 * j, t + 3 * j, local);
      const int32_t p = parents[j];
      if (p < 0) {
        for (int k = 0; k < 16; ++k) w[16 * j + k] = local[k];
      } else {
        affine_mul(w + 16 * p, local, w + 16 * j);
      }
    }
  }
}

}  // namespace vips
