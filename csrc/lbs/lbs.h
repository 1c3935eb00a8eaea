// Linear blend skinning, batched over poses, with sparse weights:
// out[p, v] = sum_k weights[v, k] * (transforms[p, indices[v, k]] @ [vertices[v], 1]).
// transforms are skinning transforms (posed world @ inverse bind), row-major 4x4 affine.
#pragma once

#include <cstdint>

namespace vips {

// vertices (V, 3); indices (V, K) int32 in [0, J); weights (V, K); transforms (P, J, 4, 4); out (P, V, 3).
void lbs_cpu(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
             int64_t P, int64_t V, int64_t K, int64_t J, float* out);

#ifdef VIPS_WITH_CUDA
void lbs_cuda(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
              int64_t P, int64_t V, int64_t K, int64_t J, float* out);
#endif

}  // namespace vips
