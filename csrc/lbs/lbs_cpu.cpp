#include "lbs/lbs.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace vips {

namespace {

// Weighted homogeneous vertex per influence: w * [x, y, z, 1], so one influence is 12 multiply-adds.
struct Influence {
  float wx, wy, wz, w;
  int32_t joint;
};

// Few poses: vertex-parallel, one pose at a time (its J matrices stay in L1 while the vertices stream).
void lbs_per_pose(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
                  int64_t P, int64_t V, int64_t K, int64_t J, float* out) {
#pragma omp parallel for collapse(2) schedule(dynamic, 4096) if (P * V > 16384)
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

constexpr int64_t kTileV = 64;   // vertices per tile
// Poses per SIMD chunk: two AVX vectors. A chunk's transposed matrices (J * 12 * kChunkP floats, 77 KiB at
// J = 100) stay in L2 while every vertex tile streams past; wider chunks spill to L3 with random joints.
constexpr int64_t kChunkP = 16;

struct PoseSimdArgs {
  const Influence* infl;  // (V, K) weighted homogeneous vertices
  const float* tp;        // transposed transforms: tp[((c * J + j) * 12 + r) * kChunkP + p] for chunk c
  int64_t P, V, K, J;
  float* out;
};

#if defined(__GNUC__)
#define VIPS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define VIPS_ALWAYS_INLINE inline
#endif

// Many poses: vectorize over poses. With the matrices transposed, one influence of one vertex is 12
// contiguous multiply-adds across the chunk's poses, with no gathers.
VIPS_ALWAYS_INLINE void pose_simd_tile(const PoseSimdArgs& g, int64_t chunk, int64_t tile) {
  const int64_t V = g.V, K = g.K;
  const int64_t v0 = tile * kTileV, nv = std::min(kTileV, V - v0);
  const int64_t p0 = chunk * kChunkP, pw = std::min(kChunkP, g.P - p0);
  const float* tc = g.tp + chunk * g.J * 12 * kChunkP;
  for (int64_t v = 0; v < nv; ++v) {
    float a0[kChunkP], a1[kChunkP], a2[kChunkP];
    for (int64_t p = 0; p < kChunkP; ++p) a0[p] = a1[p] = a2[p] = 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const Influence f = g.infl[(v0 + v) * K + k];
      if (f.w == 0.f) continue;
      const float* __restrict m = tc + f.joint * 12 * kChunkP;
#pragma omp simd
      for (int64_t p = 0; p < kChunkP; ++p) {
        a0[p] += m[p] * f.wx + m[kChunkP + p] * f.wy + m[2 * kChunkP + p] * f.wz + m[3 * kChunkP + p] * f.w;
        a1[p] += m[4 * kChunkP + p] * f.wx + m[5 * kChunkP + p] * f.wy + m[6 * kChunkP + p] * f.wz +
                 m[7 * kChunkP + p] * f.w;
        a2[p] += m[8 * kChunkP + p] * f.wx + m[9 * kChunkP + p] * f.wy + m[10 * kChunkP + p] * f.wz +
                 m[11 * kChunkP + p] * f.w;
      }
    }
    // Straight to the output: one 12-byte store per pose (a separate transposing pass through a buffer
    // costs twice the memory operations).
    float* o = g.out + (p0 * V + v0 + v) * 3;
    for (int64_t p = 0; p < pw; ++p, o += 3 * V) {
      o[0] = a0[p]; o[1] = a1[p]; o[2] = a2[p];
    }
  }
}

using TileFn = void (*)(const PoseSimdArgs&, int64_t, int64_t);

void pose_simd_tile_default(const PoseSimdArgs& g, int64_t chunk, int64_t tile) {
  pose_simd_tile(g, chunk, tile);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define VIPS_LBS_AVX2 1
// The same tile compiled for AVX2 + FMA and picked at run time, so the default build stays portable. (The
// OpenMP region lives outside: outlined parallel bodies would not inherit the target attribute.)
__attribute__((target("avx2,fma"))) void pose_simd_tile_avx2(const PoseSimdArgs& g, int64_t chunk, int64_t tile) {
  pose_simd_tile(g, chunk, tile);
}
#endif

TileFn pick_tile_fn() {
#ifdef VIPS_LBS_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return pose_simd_tile_avx2;
#endif
  return pose_simd_tile_default;
}

void lbs_pose_simd(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
                   int64_t P, int64_t V, int64_t K, int64_t J, float* out) {
  static const TileFn tile_fn = pick_tile_fn();
  const int64_t chunks = (P + kChunkP - 1) / kChunkP, tiles = (V + kTileV - 1) / kTileV;
  // Serial set-up (J * 12 * P transposed floats and V * K influences: a few percent of the kernel), so the
  // parallel part below is one loop with one barrier. Barriers are what hurt when other processes share the
  // cores: a descheduled thread stalls every barrier for a whole time slice.
  std::vector<float> tp(std::size_t(chunks * J * 12 * kChunkP), 0.f);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t j = 0; j < J; ++j)
      for (int r = 0; r < 12; ++r)
        tp[std::size_t(((p / kChunkP * J + j) * 12 + r) * kChunkP + p % kChunkP)] = transforms[(p * J + j) * 16 + r];
  std::vector<Influence> infl(std::size_t(V * K));
  for (int64_t i = 0; i < V * K; ++i) {
    const int64_t v = i / K;
    const float w = weights[i];
    infl[std::size_t(i)] = {w * vertices[3 * v], w * vertices[3 * v + 1], w * vertices[3 * v + 2], w, indices[i]};
  }
  const PoseSimdArgs g{infl.data(), tp.data(), P, V, K, J, out};
  // Chunk-major order, handed out dynamically in runs of tiles: the threads sweep one chunk's matrices (held
  // in L2) together, and a thread that loses its core holds up only its current run.
#pragma omp parallel for schedule(dynamic, 8) if (P * V > 16384)
  for (int64_t i = 0; i < chunks * tiles; ++i) tile_fn(g, i / tiles, i % tiles);
}

}  // namespace

void lbs_cpu(const float* vertices, const int32_t* indices, const float* weights, const float* transforms,
             int64_t P, int64_t V, int64_t K, int64_t J, float* out) {
  if (P < 8 || J == 0) {
    lbs_per_pose(vertices, indices, weights, transforms, P, V, K, J, out);
    return;
  }
  lbs_pose_simd(vertices, indices, weights, transforms, P, V, K, J, out);
}

}  // namespace vips
