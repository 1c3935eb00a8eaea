// Forward kinematics over a batch of poses: local rotations and translations down a topologically
// ordered hierarchy to world (model-space) 4x4 matrices. Column-vector convention, row-major storage:
// world[b, j] = world[b, parent[j]] @ [R(q[b, j]) | t[b, j]].
#pragma once

#include <cstdint>

namespace vips {

// local_rotations (B, J, 4) unit quaternions (w, x, y, z); local_translations (B, J, 3), or (J, 3) shared by
// every pose when translation_batch_stride == 0; parents (J,) with parents[j] < j and -1 for roots;
// world (B, J, 4, 4) output.
void fk_cpu(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
            const int32_t* parents, int64_t B, int64_t J, float* world);

#ifdef VIPS_WITH_CUDA
void fk_cuda(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
             const int32_t* parents, int64_t B, int64_t J, float* world);
#endif

}  // namespace vips
