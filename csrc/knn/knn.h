// Batched, ragged K-nearest neighbours in 3D (the building block of Chamfer distances).
//
// For batch element i and query n < lengths_a[i], finds the K points of b[i, :lengths_b[i]] nearest to
// a[i, n] and writes their squared Euclidean distances and indices (into b[i]) sorted by ascending distance.
// Slots that have no neighbour get dist = +inf and idx = -1: every slot of a padded query
// (n >= lengths_a[i]), every slot when lengths_b[i] == 0, and slots k >= lengths_b[i].
// Equal distances may come back in any order of index; every returned index has the returned distance.
// Distances are computed in float32 as ((ax-bx)^2 + (ay-by)^2) + (az-bz)^2 without FMA contraction, so
// the CPU and CUDA kernels produce bit-identical distances.
#pragma once

#include <cstdint>

namespace vips {

//! Largest K the kernels accept.
constexpr int64_t kKnnMaxK = 32;

// a (B, N, 3); b (B, M, 3); lengths_a, lengths_b (B,) int64 in [0, N] / [0, M] (validated by the caller);
// dist (B, N, K) float32; idx (B, N, K) int64. 1 <= K <= kKnnMaxK, M < 2^31.
void knn_cpu(const float* a, const float* b, const int64_t* lengths_a, const int64_t* lengths_b, int64_t B,
             int64_t N, int64_t M, int64_t K, float* dist, int64_t* idx);

#ifdef VIPS_WITH_CUDA
// Same contract with device pointers; lengths are clamped to [0, N] / [0, M] on the device.
void knn_cuda(const float* a, const float* b, const int64_t* lengths_a, const int64_t* lengths_b, int64_t B,
              int64_t N, int64_t M, int64_t K, float* dist, int64_t* idx);
#endif

}  // namespace vips
