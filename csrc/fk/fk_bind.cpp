#include "common/array_checks.h"
#include "fk/fk.h"

namespace vips::bind {

static void fk(const Array& local_rotations, const Array& local_translations, const Array& parents,
               const Array& out) {
  const char* k = "fk";
  const Device dev = check<float>(local_rotations, k, "local_rotations", {-1, -1, 4});
  const int64_t B = local_rotations.shape(0), J = local_rotations.shape(1);
  const int64_t tstride = check_points_shared_or_batched(local_translations, k, "local_translations", B, J, dev);
  same_device(check<int32_t>(parents, k, "parents", {J}), dev, k, "parents");
  same_device(check<float>(out, k, "out", {B, J, 4, 4}), dev, k, "out");
  if (dev == Device::CPU) {
    check_topological(parents, k, J);
    const int32_t* par = ptr<int32_t>(parents);
    nb::gil_scoped_release release;
    fk_cpu(ptr<float>(local_rotations), ptr<float>(local_translations), tstride, par, B, J, ptr<float>(out));
  } else {
#ifdef VIPS_WITH_CUDA
    nb::gil_scoped_release release;
    fk_cuda(ptr<float>(local_rotations), ptr<float>(local_translations), tstride, ptr<int32_t>(parents), B, J,
            ptr<float>(out));
#else
    no_cuda(k);
#endif
  }
}

void bind_fk(nb::module_& m) {
  m.def("fk", &fk, nb::arg("local_rotations"), nb::arg("local_translations"), nb::arg("parents"), nb::arg("out"),
        "Forward kinematics into `out` (B, J, 4, 4). local_rotations (B, J, 4) wxyz float32, local_translations "
        "(B, J, 3) or (J, 3) float32, parents (J,) int32 topologically ordered.");
}

}  // namespace vips::bind
