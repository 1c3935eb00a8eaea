#include "fk_energy/fk_energy.h"

#include <cstddef>
#include <vector>

#include "fk_energy/fk_energy_pose.h"

namespace vips {

namespace {
struct ContiguousScratch {
  double* base;
  double& operator()(int64_t j, int k) const { return base[j * fk_energy_detail::kStride + k]; }
};
}  // namespace

void fk_energy_cpu(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
                   const int32_t* parents, const int32_t* handle_joints, const float* handle_targets,
                   int64_t target_batch_stride, const float* handle_weights, int64_t B, int64_t J, int64_t H,
                   float* energy, float* positions, float* grad_rotation, float* grad_translation) {
  // Double accumulation on the CPU costs little (J is small) and keeps the gradient a clean reference for
  // the float32 CUDA kernel. Dynamic runs of poses and `nowait`: the only barrier is the region's end, and a
  // thread that loses its core to another process holds up only its current run.
#pragma omp parallel if (B * (J + H) > 8192)
  {
    std::vector<double> scratch(std::size_t(J) * fk_energy_detail::kStride);
#pragma omp for schedule(dynamic, 16) nowait
    for (int64_t b = 0; b < B; ++b) {
      const double e = fk_energy_detail::pose_energy_grad<double>(
          local_rotations + b * J * 4, local_translations + b * translation_batch_stride, parents, handle_joints,
          handle_targets + b * target_batch_stride, handle_weights, J, H, ContiguousScratch{scratch.data()},
          positions + b * J * 3, grad_rotation + b * J * 3, grad_translation + b * J * 3);
      energy[b] = float(e);
    }
  }
}

}  // namespace vips
