#include <string>

#include "common/array_checks.h"
#include "fk_energy/fk_energy.h"

namespace vips::bind {

static void fk_energy(const Array& local_rotations, const Array& local_translations, const Array& parents,
                      const Array& handle_joints, const Array& handle_targets, const Array& handle_weights,
                      const Array& energy, const Array& positions, const Array& grad_rotation,
                      const Array& grad_translation) {
  const char* k = "fk_energy";
  const Device dev = check<float>(local_rotations, k, "local_rotations", {-1, -1, 4});
  const int64_t B = local_rotations.shape(0), J = local_rotations.shape(1);
  const int64_t tstride = check_points_shared_or_batched(local_translations, k, "local_translations", B, J, dev);
  same_device(check<int32_t>(parents, k, "parents", {J}), dev, k, "parents");
  same_device(check<int32_t>(handle_joints, k, "handle_joints", {-1}), dev, k, "handle_joints");
  const int64_t H = handle_joints.shape(0);
  const int64_t hstride = check_points_shared_or_batched(handle_targets, k, "handle_targets", B, H, dev);
  same_device(check<float>(handle_weights, k, "handle_weights", {H}), dev, k, "handle_weights");
  same_device(check<float>(energy, k, "energy", {B}), dev, k, "energy");
  same_device(check<float>(positions, k, "positions", {B, J, 3}), dev, k, "positions");
  same_device(check<float>(grad_rotation, k, "grad_rotation", {B, J, 3}), dev, k, "grad_rotation");
  same_device(check<float>(grad_translation, k, "grad_translation", {B, J, 3}), dev, k, "grad_translation");
  if (dev == Device::CPU) {
    check_topological(parents, k, J);
    const int32_t* par = ptr<int32_t>(parents);
    const int32_t* hj = ptr<int32_t>(handle_joints);
    for (int64_t h = 0; h < H; ++h)
      if (hj[h] < 0 || hj[h] >= J)
        fail(k, "handle_joints", "holds joint index " + std::to_string(hj[h]) + " at handle " + std::to_string(h) +
                                     ", outside [0, " + std::to_string(J) + ")");
    nb::gil_scoped_release release;
    fk_energy_cpu(ptr<float>(local_rotations), ptr<float>(local_translations), tstride, par, hj,
                  ptr<float>(handle_targets), hstride, ptr<float>(handle_weights), B, J, H, ptr<float>(energy),
                  ptr<float>(positions), ptr<float>(grad_rotation), ptr<float>(grad_translation));
  } else {
#ifdef VIPS_WITH_CUDA
    nb::gil_scoped_release release;
    fk_energy_cuda(ptr<float>(local_rotations), ptr<float>(local_translations), tstride, ptr<int32_t>(parents),
                   ptr<int32_t>(handle_joints), ptr<float>(handle_targets), hstride, ptr<float>(handle_weights), B,
                   J, H, ptr<float>(energy), ptr<float>(positions), ptr<float>(grad_rotation),
                   ptr<float>(grad_translation));
#else
    no_cuda(k);
#endif
  }
}

void bind_fk_energy(nb::module_& m) {
  m.def("fk_energy", &fk_energy, nb::arg("local_rotations"), nb::arg("local_translations"), nb::arg("parents"),
        nb::arg("handle_joints"), nb::arg("handle_targets"), nb::arg("handle_weights"), nb::arg("energy"),
        nb::arg("positions"), nb::arg("grad_rotation"), nb::arg("grad_translation"),
        "FK + handle energy E_b = sum_h w_h |p_b[joint_h] - target_bh|^2 and its analytic gradient. "
        "local_rotations (B, J, 4) wxyz float32, local_translations (B, J, 3) or (J, 3), parents (J,) int32, "
        "handle_joints (H,) int32, handle_targets (B, H, 3) or (H, 3), handle_weights (H,). Writes energy (B,), "
        "positions (B, J, 3), grad_rotation (B, J, 3) (right perturbation R_j exp([w]x)) and grad_translation "
        "(B, J, 3) (each joint's local translation).");
}

}  // namespace vips::bind
