#include "raster/raster.h"

#include <algorithm>
#include <cmath>

namespace vips {

namespace {

inline float edge(float ax, float ay, float bx, float by, float px, float py) {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

}  // namespace

void raster_cpu(const float* screen, const int32_t* faces, const float* colors, int64_t /*V*/, int64_t F, int64_t H,
                int64_t W, float* depth, float* image) {
  // Triangles in order, one thread: images are small and the depth test makes the result order-free
  // except for exact depth ties, which stay deterministic this way.
  for (int64_t f = 0; f < F; ++f) {
    const int32_t i0 = faces[3 * f], i1 = faces[3 * f + 1], i2 = faces[3 * f + 2];
    const float* a = screen + 3 * i0;
    const float* b = screen + 3 * i1;
    const float* c = screen + 3 * i2;
    if (!(a[2] > 0.f && b[2] > 0.f && c[2] > 0.f)) continue;
    const float area = edge(a[0], a[1], b[0], b[1], c[0], c[1]);
    if (!(std::fabs(area) > 1e-12f)) continue;  // also skips NaN
    const int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(std::min({a[0], b[0], c[0]}))));
    const int64_t x1 = std::min<int64_t>(W - 1, int64_t(std::ceil(std::max({a[0], b[0], c[0]}))));
    const int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(std::min({a[1], b[1], c[1]}))));
    const int64_t y1 = std::min<int64_t>(H - 1, int64_t(std::ceil(std::max({a[1], b[1], c[1]}))));
    const float inv = 1.f / area;
    for (int64_t y = y0; y <= y1; ++y) {
      const float py = float(y) + 0.5f;
      for (int64_t x = x0; x <= x1; ++x) {
        const float px = float(x) + 0.5f;
        const float w0 = edge(b[0], b[1], c[0], c[1], px, py) * inv;
        const float w1 = edge(c[0], c[1], a[0], a[1], px, py) * inv;
        const float w2 = 1.f - w0 - w1;
        if (w0 < 0.f || w1 < 0.f || w2 < 0.f) continue;
        const float z = w0 * a[2] + w1 * b[2] + w2 * c[2];
        float& d = depth[y * W + x];
        if (!(z < d)) continue;
        d = z;
        float* px_out = image + (y * W + x) * 3;
        for (int k = 0; k < 3; ++k)
          px_out[k] = w0 * colors[3 * i0 + k] + w1 * colors[3 * i1 + k] + w2 * colors[3 * i2 + k];
      }
    }
  }
}

}  // namespace vips
