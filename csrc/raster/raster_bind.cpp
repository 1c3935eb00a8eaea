#include "common/array_checks.h"
#include "raster/raster.h"

namespace vips::bind {

static void raster(const Array& screen, const Array& faces, const Array& colors, const Array& depth,
                   const Array& image) {
  const char* k = "raster";
  if (check<float>(screen, k, "screen", {-1, 3}) != Device::CPU)
    fail(k, "screen", "must be a CPU array (the proxy rasterizer runs on the CPU only)");
  const int64_t V = screen.shape(0);
  same_device(check<int32_t>(faces, k, "faces", {-1, 3}), Device::CPU, k, "faces");
  same_device(check<float>(colors, k, "colors", {V, 3}), Device::CPU, k, "colors");
  same_device(check<float>(depth, k, "depth", {-1, -1}), Device::CPU, k, "depth");
  const int64_t H = depth.shape(0), W = depth.shape(1);
  same_device(check<float>(image, k, "image", {H, W, 3}), Device::CPU, k, "image");
  const int64_t F = faces.shape(0);
  const int32_t* f = ptr<int32_t>(faces);
  for (int64_t i = 0; i < 3 * F; ++i)
    if (f[i] < 0 || f[i] >= V)
      fail(k, "faces", "face " + std::to_string(i / 3) + " refers to vertex " + std::to_string(f[i]) +
                           ", outside [0, " + std::to_string(V) + ")");
  nb::gil_scoped_release release;
  raster_cpu(ptr<float>(screen), f, ptr<float>(colors), V, F, H, W, ptr<float>(depth), ptr<float>(image));
}

void bind_raster(nb::module_& m) {
  m.def("raster", &raster, nb::arg("screen"), nb::arg("faces"), nb::arg("colors"), nb::arg("depth"),
        nb::arg("image"),
        "Depth-tested triangle rasterization into `depth` (H, W) and `image` (H, W, 3), in place. screen (V, 3) "
        "pixel x, y and depth z; faces (F, 3) int32; colors (V, 3) float32.");
}

}  // namespace vips::bind
