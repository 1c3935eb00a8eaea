// Depth-tested triangle rasterizer for proxy renders (mesh keyframes, contact sheets, thumbnails): no
// system GL needed. Vertices arrive already projected to pixel coordinates; colors are interpolated
// linearly across each triangle (Gouraud), the nearest surface wins per pixel.
#pragma once

#include <cstdint>

namespace vips {

// screen (V, 3): x, y in pixels (pixel centres at +0.5), z = depth (smaller is nearer);
// faces (F, 3) int32; colors (V, 3) float32; depth (H, W) float32 in/out (initialize to +inf);
// image (H, W, 3) float32 in/out. Triangles with any vertex behind the camera (z <= 0) are skipped.
void raster_cpu(const float* screen, const int32_t* faces, const float* colors, int64_t V, int64_t F, int64_t H,
                int64_t W, float* depth, float* image);

}  // namespace vips
