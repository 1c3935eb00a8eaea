// The vips._native module: one bind_<kernel> per kernel folder. Kernels write into caller-allocated
// outputs so results stay on the caller's device and in the caller's array library (numpy, torch, cupy).
#include <nanobind/nanobind.h>

namespace nb = nanobind;

namespace vips::bind {
void bind_fk(nb::module_&);
void bind_lbs(nb::module_&);
void bind_knn(nb::module_&);
void bind_fk_energy(nb::module_&);
void bind_ddim(nb::module_&);
void bind_raster(nb::module_&);
void bind_guided(nb::module_&);
}  // namespace vips::bind

NB_MODULE(_native, m) {
  m.doc() = "ViPS native kernels (C++ core, CUDA where built). Use vips.native, not this module.";
#ifdef VIPS_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  vips::bind::bind_fk(m);
  vips::bind::bind_lbs(m);
  vips::bind::bind_knn(m);
  vips::bind::bind_fk_energy(m);
  vips::bind::bind_ddim(m);
  vips::bind::bind_raster(m);
  vips::bind::bind_guided(m);
}
