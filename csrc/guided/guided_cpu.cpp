#include "guided/guided.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ddim/ddim.h"
#include "fk_energy/fk_energy.h"

namespace vips {

namespace {

constexpr int64_t D9 = kGuidedPoseDim;

// Row-major 3x3 helpers in double.
inline void mat_mul(const double* a, const double* b, double* c) {
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) c[3 * r + k] = a[3 * r] * b[k] + a[3 * r + 1] * b[3 + k] + a[3 * r + 2] * b[6 + k];
}
inline void mat_tmul(const double* a, const double* b, double* c) {  // a^T b
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) c[3 * r + k] = a[r] * b[k] + a[3 + r] * b[3 + k] + a[6 + r] * b[6 + k];
}
inline void cross(const double* a, const double* b, double* c) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}
inline double dot(const double* a, const double* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

inline void quat_to_mat(const float* q, double* m) {
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  const double n2 = w * w + x * x + y * y + z * z, s = n2 > 0 ? 2.0 / n2 : 0.0;
  m[0] = 1 - s * (y * y + z * z); m[1] = s * (x * y - w * z);     m[2] = s * (x * z + w * y);
  m[3] = s * (x * y + w * z);     m[4] = 1 - s * (x * x + z * z); m[5] = s * (y * z - w * x);
  m[6] = s * (x * z - w * y);     m[7] = s * (y * z + w * x);     m[8] = 1 - s * (x * x + y * y);
}

// Shepperd's method: branch on the largest of w^2, x^2, y^2, z^2 for a well-conditioned square root.
inline void mat_to_quat(const double* m, float* q) {
  const double tr = m[0] + m[4] + m[8];
  double w, x, y, z;
  if (tr > m[0] && tr > m[4] && tr > m[8]) {
    const double s = 2 * std::sqrt(std::max(1 + tr, 1e-30));
    w = 0.25 * s; x = (m[7] - m[5]) / s; y = (m[2] - m[6]) / s; z = (m[3] - m[1]) / s;
  } else if (m[0] > m[4] && m[0] > m[8]) {
    const double s = 2 * std::sqrt(std::max(1 + m[0] - m[4] - m[8], 1e-30));
    w = (m[7] - m[5]) / s; x = 0.25 * s; y = (m[1] + m[3]) / s; z = (m[2] + m[6]) / s;
  } else if (m[4] > m[8]) {
    const double s = 2 * std::sqrt(std::max(1 + m[4] - m[0] - m[8], 1e-30));
    w = (m[2] - m[6]) / s; x = (m[1] + m[3]) / s; y = 0.25 * s; z = (m[5] + m[7]) / s;
  } else {
    const double s = 2 * std::sqrt(std::max(1 + m[8] - m[0] - m[4], 1e-30));
    w = (m[3] - m[1]) / s; x = (m[2] + m[6]) / s; y = (m[5] + m[7]) / s; z = 0.25 * s;
  }
  const double n = std::sqrt(w * w + x * x + y * y + z * z);
  q[0] = float(w / n); q[1] = float(x / n); q[2] = float(y / n); q[3] = float(z / n);
}

// What the chain rule needs of one joint's decode.
struct JointDecode {
  double a1[3], b1[3], c1[3];  // columns of M (Gram-Schmidt of the token)
  double b[3];                 // the raw second column
  double na, nb, ab;           // |a|, |b'|, a1 . b
  double W[9];                 // world delta rotation W = M B^T (identity above the body), row-major
  double WG[9];                // W G: carries a local tangent gradient to a world torque
  bool live;
  bool carried;                // a masked helper joint below a live one: W is its parent's (rest relative to it)
};

// Decoding, the energy and its gradient for one pose at a time (per-pose scratch, reused across calls).
class PoseEnergy {
 public:
  PoseEnergy(const GuidedRig& rig, const GuidedHandles& handles)
      : rig_(rig), hd_(handles), J_(rig.J), K_(handles.H + handles.A),
        dec_(size_t(J_)), rot_(size_t(J_) * 4), trans_(size_t(J_) * 3), pos_(size_t(J_) * 3),
        grot_(size_t(J_) * 3), gtrans_(size_t(J_) * 3), torque_(size_t(J_) * 3), left_(size_t(J_) * 3),
        joints_(size_t(K_)), targets_(size_t(K_) * 3),
        weights_(size_t(K_)) {
    const double inv_h2 = 1.0 / (double(rig.height) * double(rig.height));
    for (int64_t h = 0; h < handles.H; ++h) {
      joints_[h] = handles.joints[h];
      weights_[h] = float(handles.weights[h] * inv_h2);
    }
    for (int64_t a = 0; a < handles.A; ++a) {
      joints_[handles.H + a] = handles.aim_end[a];
      weights_[handles.H + a] = float(handles.aim_weights[a] * inv_h2);
    }
  }

  // Local rotations and translations of pose vector x (J, 9) into the scratch (and optionally out).
  void decode(const float* x, float* rot_out = nullptr, float* trans_out = nullptr) {
    const double h = rig_.height;
    for (int64_t j = 0; j < J_; ++j) {
      const float* xj = x + j * D9;
      JointDecode& d = dec_[j];
      d.live = rig_.channel_mask[j * D9] > 0.f;
      const int32_t parent = rig_.parents[j];
      d.carried = !d.live && parent >= 0 && (dec_[parent].live || dec_[parent].carried);
      double G[9];
      for (int k = 0; k < 9; ++k) G[k] = rig_.frames[9 * j + k];
      if (d.live) {
        double a[3] = {double(xj[0]), double(xj[1]), double(xj[2])};
        d.b[0] = xj[3]; d.b[1] = xj[4]; d.b[2] = xj[5];
        d.na = std::max(std::sqrt(dot(a, a)), 1e-8);
        for (int k = 0; k < 3; ++k) d.a1[k] = a[k] / d.na;
        d.ab = dot(d.a1, d.b);
        double bp[3] = {d.b[0] - d.ab * d.a1[0], d.b[1] - d.ab * d.a1[1], d.b[2] - d.ab * d.a1[2]};
        d.nb = std::max(std::sqrt(dot(bp, bp)), 1e-8);
        for (int k = 0; k < 3; ++k) d.b1[k] = bp[k] / d.nb;
        cross(d.a1, d.b1, d.c1);
        const double M[9] = {d.a1[0], d.b1[0], d.c1[0], d.a1[1], d.b1[1], d.c1[1], d.a1[2], d.b1[2], d.c1[2]};
        double Bt[9];
        for (int r = 0; r < 3; ++r)
          for (int c = 0; c < 3; ++c) Bt[3 * r + c] = rig_.reference_frames[9 * j + 3 * c + r];
        mat_mul(M, Bt, d.W);  // W = M B^T
      } else if (d.carried) {
        std::memcpy(d.W, dec_[parent].W, sizeof(d.W));
      } else {
        for (int k = 0; k < 9; ++k) d.W[k] = (k % 4 == 0) ? 1.0 : 0.0;
      }
      mat_mul(d.W, G, d.WG);
      // The local delta in canonical axes is D = W_parent^T W; in the joint's own axes delta = G^T D G.
      double D[9], GtD[9], delta[9], rest[9], local[9];
      const int32_t p = rig_.parents[j];
      if (p < 0) {
        std::memcpy(D, d.W, sizeof(D));
      } else {
        mat_tmul(dec_[p].W, d.W, D);
      }
      mat_tmul(G, D, GtD);
      mat_mul(GtD, G, delta);
      quat_to_mat(rig_.rest_rotations + 4 * j, rest);
      mat_mul(rest, delta, local);
      mat_to_quat(local, rot_.data() + 4 * j);
      for (int k = 0; k < 3; ++k) trans_[3 * j + k] = rig_.rest_translations[3 * j + k];
    }
    // The body's height moves the root vertically: canonical (0, y - rest y, 0) -> asset axes and units.
    const float* Rc = rig_.canonical_rotation;
    const double dy = double(x[rig_.body_root * D9 + 7]) - double(rig_.rest_body_height);
    for (int k = 0; k < 3; ++k) trans_[k] += float(h * Rc[3 + k] * dy);
    if (rot_out) std::memcpy(rot_out, rot_.data(), sizeof(float) * 4 * J_);
    if (trans_out) std::memcpy(trans_out, trans_.data(), sizeof(float) * 3 * J_);
  }

  // Energy of pose vector x (J, 9) against targets (H, 3); writes grad (J, 9) when given. Positions of the
  // result are kept in the scratch (see positions()).
  double energy_grad(const float* x, const float* targets, float* grad) {
    decode(x);
    for (int64_t h = 0; h < hd_.H; ++h)
      for (int k = 0; k < 3; ++k) targets_[3 * h + k] = targets[3 * h + k];
    float e = 0.f;
    if (hd_.A > 0) {  // aims need the current positions: one FK pass first
      run(&e);
      update_aims();
    }
    run(&e);
    if (grad) chain_rule(grad);
    return e;
  }

  const float* positions() const { return pos_.data(); }
  int64_t num_handles() const { return K_; }

  // After energy_grad(x, ...): the height-normalized residuals r (3K,) = sqrt(w_k) (p_k - target_k) / h and
  // their Jacobian with respect to x, jac (3K, J * 9). Row (k, c) comes from the same FK-gradient kernel: with
  // one handle of weight 1 whose target sits at p_k - e_c / 2, the energy gradient is exactly dp_{k,c} / dx.
  void residual_jacobian(float* r, float* jac) {
    const std::vector<float> pos = pos_;
    const double inv_h = 1.0 / double(rig_.height);
    for (int64_t k = 0; k < K_; ++k) {
      const double sw = std::sqrt(double(weights_[k])) * double(rig_.height);  // weights_ holds w / h^2
      const int32_t jk = joints_[k];
      for (int c = 0; c < 3; ++c) {
        r[3 * k + c] = float(sw * (pos[3 * jk + c] - targets_[3 * k + c]) * inv_h);
        float target[3] = {pos[3 * jk], pos[3 * jk + 1], pos[3 * jk + 2]};
        target[c] -= 0.5f;
        const float one = 1.0f;
        float e;
        fk_energy_cpu(rot_.data(), trans_.data(), 0, rig_.parents, &jk, target, 0, &one, 1, J_, 1, &e,
                      pos_.data(), grot_.data(), gtrans_.data());
        float* row = jac + (3 * k + c) * J_ * D9;
        chain_rule(row);
        const float scale = float(sw * inv_h);
        for (int64_t i = 0; i < J_ * D9; ++i) row[i] *= scale;
      }
    }
    pos_ = pos;
  }

 private:
  void run(float* e) {
    fk_energy_cpu(rot_.data(), trans_.data(), 0, rig_.parents, joints_.data(), targets_.data(), 0,
                  weights_.data(), 1, J_, K_, e, pos_.data(), grot_.data(), gtrans_.data());
  }

  void update_aims() {
    for (int64_t a = 0; a < hd_.A; ++a) {
      const float* pb = pos_.data() + 3 * hd_.aim_base[a];
      const float* pe = pos_.data() + 3 * hd_.aim_end[a];
      const float* t = hd_.aim_targets + 3 * a;
      double bone[3] = {pe[0] - pb[0], pe[1] - pb[1], pe[2] - pb[2]};
      double dir[3] = {t[0] - pb[0], t[1] - pb[1], t[2] - pb[2]};
      const double len = std::sqrt(dot(bone, bone)), nd = std::sqrt(dot(dir, dir));
      float* out = targets_.data() + 3 * (hd_.H + a);
      for (int k = 0; k < 3; ++k) out[k] = nd > 1e-12 ? float(pb[k] + len * dir[k] / nd) : pe[k];
    }
  }

  // Tangent gradients (per joint, right perturbation of the local rotation) -> gradient w.r.t. x (J, 9).
  void chain_rule(float* grad) {
    // Turning W_j by exp(phi) on the left turns joint j's local delta by G_j^T W_j^T phi on the right and each
    // child's by -G_c^T W_c^T phi, so dE/dphi_j = u_j - sum over children u_c with u = W G g (world torques).
    for (int64_t j = 0; j < J_; ++j) {
      const double* WG = dec_[j].WG;
      const float* g = grot_.data() + 3 * j;
      for (int r = 0; r < 3; ++r) torque_[3 * j + r] = WG[3 * r] * g[0] + WG[3 * r + 1] * g[1] + WG[3 * r + 2] * g[2];
    }
    for (int64_t k = 0; k < 3 * J_; ++k) left_[k] = torque_[k];
    for (int64_t j = 1; j < J_; ++j) {
      const int32_t p = rig_.parents[j];
      for (int r = 0; r < 3; ++r) left_[3 * p + r] -= torque_[3 * j + r];
    }
    // A carried joint's W is its parent's, so a turn of the parent turns it as well (children before parents).
    for (int64_t j = J_ - 1; j >= 1; --j) {
      if (!dec_[j].carried) continue;
      const int32_t p = rig_.parents[j];
      for (int r = 0; r < 3; ++r) left_[3 * p + r] += left_[3 * j + r];
    }
    for (int64_t j = 0; j < J_; ++j) {
      const JointDecode& d = dec_[j];
      float* out = grad + j * D9;
      for (int k = 0; k < D9; ++k) out[k] = 0.f;
      if (!d.live) continue;
      // M's left-perturbation gradient gamma is the right-perturbation gradient M^T gamma; its Euclidean
      // gradient on the tangent space is M [w]x with w = M^T gamma / 2 (columns: M applied to those of [w]x).
      const double* gam = left_.data() + 3 * j;
      double w[3];
      w[0] = 0.5 * dot(d.a1, gam);
      w[1] = 0.5 * dot(d.b1, gam);
      w[2] = 0.5 * dot(d.c1, gam);
      const double* cols[3] = {d.a1, d.b1, d.c1};
      const double skew_cols[3][3] = {{0, w[2], -w[1]}, {-w[2], 0, w[0]}, {w[1], -w[0], 0}};
      double gcol[3][3];
      for (int c = 0; c < 3; ++c)
        for (int r = 0; r < 3; ++r)
          gcol[c][r] = cols[0][r] * skew_cols[c][0] + cols[1][r] * skew_cols[c][1] + cols[2][r] * skew_cols[c][2];
      double ga1[3] = {gcol[0][0], gcol[0][1], gcol[0][2]}, gb1[3] = {gcol[1][0], gcol[1][1], gcol[1][2]};
      double t1[3], t2[3];
      cross(d.b1, gcol[2], t1);  // c1 = a1 x b1
      cross(gcol[2], d.a1, t2);
      for (int k = 0; k < 3; ++k) { ga1[k] += t1[k]; gb1[k] += t2[k]; }
      const double bb = dot(d.b1, gb1);
      double gbp[3];
      for (int k = 0; k < 3; ++k) gbp[k] = (gb1[k] - d.b1[k] * bb) / d.nb;  // b1 = b' / |b'|
      const double ag = dot(d.a1, gbp);
      for (int k = 0; k < 3; ++k) {
        out[3 + k] = float(gbp[k] - d.a1[k] * ag);      // b' = b - (a1 . b) a1
        ga1[k] -= d.ab * gbp[k] + d.b[k] * ag;
      }
      const double aa = dot(d.a1, ga1);
      for (int k = 0; k < 3; ++k) out[k] = float((ga1[k] - d.a1[k] * aa) / d.na);  // a1 = a / |a|
    }
    // Body height: t_root = h Rc^T (0, y - y_rest, 0)  =>  dE/dy = h (Rc dE/dt)_y (the root's parent frame is world).
    const float* Rc = rig_.canonical_rotation;
    const float* gt = gtrans_.data();
    grad[rig_.body_root * D9 + 7] = float(rig_.height * (Rc[3] * gt[0] + Rc[4] * gt[1] + Rc[5] * gt[2]));
  }

  const GuidedRig& rig_;
  const GuidedHandles& hd_;
  int64_t J_, K_;
  std::vector<JointDecode> dec_;
  std::vector<float> rot_, trans_, pos_, grot_, gtrans_;
  std::vector<double> torque_, left_;
  std::vector<int32_t> joints_;
  std::vector<float> targets_, weights_;
};

// Solves the small symmetric positive definite system a y = b (n x n, row-major) in place by Cholesky;
// returns false when a is not positive definite.
bool cholesky_solve(std::vector<double>& a, std::vector<double>& b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / d;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < i; ++k) b[i] -= a[i * n + k] * b[k];
    b[i] /= a[i * n + i];
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    for (int64_t k = i + 1; k < n; ++k) b[i] -= a[k * n + i] * b[k];
    b[i] /= a[i * n + i];
  }
  return true;
}

// Damped least squares (Levenberg-Marquardt) on one pose's x0: each accepted step is the smallest change of the
// pose vector that moves the handles by the damped Gauss-Newton amount, dx = -Jr^T (Jr Jr^T + lambda I)^-1 r,
// so the edit stays as close to the model's prediction as the handles allow. lambda adapts per pose.
double optimize_pose(PoseEnergy& pe, const float* targets, float* x, int iterations, float& lambda, int64_t J) {
  const int64_t n = J * D9, m = 3 * pe.num_handles();
  std::vector<float> r(static_cast<size_t>(m)), jac(static_cast<size_t>(m * n)), cand(static_cast<size_t>(n));
  std::vector<double> a(static_cast<size_t>(m * m)), y(static_cast<size_t>(m));
  double e = pe.energy_grad(x, targets, nullptr);
  for (int it = 0; it < iterations && e > 1e-14; ++it) {
    pe.residual_jacobian(r.data(), jac.data());
    for (int64_t p = 0; p < m; ++p)
      for (int64_t q = 0; q <= p; ++q) {
        double v = 0;
        const float *rp = jac.data() + p * n, *rq = jac.data() + q * n;
        for (int64_t i = 0; i < n; ++i) v += double(rp[i]) * rq[i];
        a[p * m + q] = a[q * m + p] = v;
      }
    bool accepted = false;
    for (int attempt = 0; attempt < 6 && !accepted; ++attempt) {
      std::vector<double> sys = a;
      for (int64_t p = 0; p < m; ++p) {
        sys[p * m + p] += lambda;
        y[p] = r[p];
      }
      if (!cholesky_solve(sys, y, m)) { lambda *= 4.f; continue; }
      for (int64_t i = 0; i < n; ++i) {
        double d = 0;
        for (int64_t p = 0; p < m; ++p) d += double(jac[p * n + i]) * y[p];
        cand[i] = float(x[i] - d);
      }
      const double ec = pe.energy_grad(cand.data(), targets, nullptr);
      if (ec < e) {
        std::memcpy(x, cand.data(), sizeof(float) * n);
        e = ec;
        lambda = std::max(lambda * 0.3f, 1e-6f);
        accepted = true;
      } else {
        lambda *= 4.f;
      }
    }
    if (!accepted) break;
    pe.energy_grad(x, targets, nullptr);  // leave the scratch at the accepted pose for the next Jacobian
  }
  return e;
}

}  // namespace

void guided_decode_cpu(const GuidedRig& rig, int64_t B, const float* x, float* local_rotations,
                       float* local_translations) {
  GuidedHandles none;
  PoseEnergy pe(rig, none);
  for (int64_t b = 0; b < B; ++b)
    pe.decode(x + b * rig.J * D9, local_rotations + b * rig.J * 4, local_translations + b * rig.J * 3);
}

void guided_energy_grad_cpu(const GuidedRig& rig, const GuidedHandles& handles, int64_t B, const float* x,
                            float* energy, float* grad, float* positions) {
  PoseEnergy pe(rig, handles);
  for (int64_t b = 0; b < B; ++b) {
    energy[b] = float(pe.energy_grad(x + b * rig.J * D9, handles.targets + b * handles.target_batch_stride,
                                     grad ? grad + b * rig.J * D9 : nullptr));
    if (positions) std::memcpy(positions + b * rig.J * 3, pe.positions(), sizeof(float) * 3 * rig.J);
  }
}

int guided_sample_cpu(const GuidedRig& rig, const GuidedHandles& handles, const GuidedSchedule& s,
                      GuidedDenoiseFn denoise, void* user, int64_t B, const float* x_T, float* x0, float* energy,
                      float* positions) {
  const int64_t J = rig.J, n = B * J * D9;
  const bool guided = handles.H + handles.A > 0 && (s.iterations > 0 || s.final_iterations > 0);
  const size_t sz = static_cast<size_t>(n);
  std::vector<float> x(x_T, x_T + n), pred(sz), eps(sz), raw(sz), edit(sz), guide(sz), x_prev(sz), x0_out(sz),
      mask(rig.channel_mask, rig.channel_mask + J * D9);
  for (int64_t i = 0; i < n; ++i) x[i] *= mask[i % (J * D9)];
  std::vector<float> lambda(static_cast<size_t>(B), s.damping);
  PoseEnergy pe(rig, handles);
  for (int64_t i = 0; i < s.steps; ++i) {
    const double ab = s.alpha_bars[i], ab_prev = s.alpha_bars[i + 1];
    const int rc = denoise(user, x.data(), B, J, float(s.times[i]), pred.data());
    if (rc != 0) return rc;
    const float sa = float(std::sqrt(ab)), sb = float(std::sqrt(1 - ab));
    for (int64_t k = 0; k < n; ++k) {
      const float m = mask[k % (J * D9)];
      eps[k] = m * (s.v_prediction ? sa * pred[k] + sb * x[k] : pred[k]);
      raw[k] = (x[k] - sb * eps[k]) / sa;
      if (s.clamp > 0) raw[k] = std::min(std::max(raw[k], -s.clamp), s.clamp);
    }
    const float* guidance = nullptr;
    if (guided) {
      edit = raw;
      const int iters = s.iterations + (i == s.steps - 1 ? s.final_iterations : 0);
      for (int64_t b = 0; b < B; ++b)
        optimize_pose(pe, handles.targets + b * handles.target_batch_stride, edit.data() + b * J * D9, iters,
                      lambda[b], J);
      for (int64_t k = 0; k < n; ++k) guide[k] = raw[k] - edit[k];
      guidance = guide.data();
    }
    const DdimStepCoeffs c = ddim_step_coeffs(ab, ab_prev, 0.0, 1.0, s.clamp);
    ddim_step_cpu(x.data(), eps.data(), nullptr, guidance, n, c, x_prev.data(), x0_out.data());
    for (int64_t k = 0; k < n; ++k) x[k] = x_prev[k] * mask[k % (J * D9)];
  }
  std::memcpy(x0, x.data(), sizeof(float) * n);
  for (int64_t b = 0; b < B; ++b) {
    const double e = pe.energy_grad(x0 + b * J * D9, handles.targets + b * handles.target_batch_stride, nullptr);
    if (energy) energy[b] = float(e);
    if (positions) std::memcpy(positions + b * J * 3, pe.positions(), sizeof(float) * 3 * J);
  }
  return 0;
}

}  // namespace vips
