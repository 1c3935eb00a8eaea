// CPU K-nearest neighbours: one uniform grid per cloud of b, searched in growing cubic shells around the
// query's cell until the K-th best distance is closer than anything outside the shells.
//
// Why a grid and not a kd-tree: a grid is built in O(M) by a counting sort and a query touches a handful of
// contiguous point ranges, which beats tree descent for the 3D point clouds we match (mesh samples).
// The cell size comes from the bounding box and the point count, then is refined when the points turn out
// to be concentrated on a surface or in clusters (many points per occupied cell). Small clouds end up with
// one cell, i.e. brute force. Every pruning test is a lower bound shrunk by a small margin, so rounding in
// the cell arithmetic can cost a little extra work but never a wrong neighbour.
#include "knn/knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace vips {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kPointsPerCell = 2.0;  // target occupancy for volume-filling clouds
constexpr double kRefineAbove = 6.0;    // mean points per occupied cell that triggers a finer grid
constexpr double kCellsPerPoint = 8.0;  // cap on grid size, as cells per point
constexpr int64_t kBruteForceBelow = 24;

struct GridPoint {
  float x, y, z;
  int32_t index;  // position in the caller's cloud
};

// Same float32 expression as the CUDA kernel (no FMA contraction) so both give identical distances.
inline float sqdist(float ax, float ay, float az, const GridPoint& p) {
  const float dx = ax - p.x, dy = ay - p.y, dz = az - p.z;
  return (dx * dx + dy * dy) + dz * dz;
}

// K = 1: the common case (Chamfer) kept in two registers.
struct BestOne {
  float d = kInf;
  int32_t i = -1;
  float kth() const { return d; }
  void push(float dd, int32_t ii) { d = dd; i = ii; }
  void write(float* dist, int64_t* idx) const { dist[0] = d; idx[0] = i; }
};

// Small K: a sorted array with insertion; d[K - 1] is the admission threshold.
struct BestMany {
  float d[kKnnMaxK];
  int32_t i[kKnnMaxK];
  int K;
  explicit BestMany(int k) : K(k) {
    std::fill(d, d + K, kInf);
    std::fill(i, i + K, -1);
  }
  float kth() const { return d[K - 1]; }
  void push(float dd, int32_t ii) {
    int j = K - 1;
    while (j > 0 && d[j - 1] > dd) {
      d[j] = d[j - 1];
      i[j] = i[j - 1];
      --j;
    }
    d[j] = dd;
    i[j] = ii;
  }
  void write(float* dist, int64_t* idx) const {
    for (int k = 0; k < K; ++k) {
      dist[k] = d[k];
      idx[k] = i[k];
    }
  }
};

class Grid {
 public:
  void build(const float* pts, int64_t n);

  // Fills `best` with the nearest points to q. Returns nothing; best.kth() is the final threshold.
  template <class Best>
  void query(const float* q, Best& best) const;

 private:
  int64_t cell_of(double v, int axis) const {
    const double t = std::floor((v - lo_[axis]) * inv_h_);
    if (!(t >= 0.0)) return 0;  // also catches NaN
    if (t >= double(dims_[axis] - 1)) return dims_[axis] - 1;
    return int64_t(t);
  }
  // Lower bound on the distance along `axis` from v to cell slab j, shrunk by the rounding margin.
  double gap(double v, int64_t j, int axis) const {
    const double lower = lo_[axis] + double(j) * h_, upper = lower + h_;
    const double g = std::max({lower - v, v - upper, 0.0});
    return shrink(g);
  }
  double shrink(double g) const { return std::max(0.0, g - 1e-9 * h_) * (1.0 - 1e-5); }
  int64_t num_cells() const { return dims_[0] * dims_[1] * dims_[2]; }
  int64_t dims_for(double h, const double* extent, int64_t* dims) const;
  int64_t sort_into_cells(const float* pts);  // returns the number of occupied cells

  // Scans cells [c_from, c_to] (contiguous in memory). Returns true when K exact matches end the search.
  template <class Best>
  bool scan(int64_t c_from, int64_t c_to, float qx, float qy, float qz, Best& best) const {
    const GridPoint* p = pts_.data();
    for (int32_t s = start_[c_from], e = start_[c_to + 1]; s < e; ++s) {
      const float d = sqdist(qx, qy, qz, p[s]);
      if (d < best.kth()) {
        best.push(d, p[s].index);
        if (best.kth() == 0.f) return true;  // nothing beats distance 0: duplicates end the search
      }
    }
    return false;
  }

  int64_t n_ = 0;
  double lo_[3] = {0, 0, 0};
  double h_ = 1.0, inv_h_ = 0.0;
  int64_t dims_[3] = {1, 1, 1};
  std::vector<int32_t> start_;  // cell c holds pts_[start_[c] .. start_[c + 1]), x fastest
  std::vector<GridPoint> pts_;
};

int64_t Grid::dims_for(double h, const double* extent, int64_t* dims) const {
  int64_t total = 1;
  for (int a = 0; a < 3; ++a) {
    const double cells = std::ceil(extent[a] / h);
    dims[a] = cells >= 1.0 ? int64_t(std::min(cells, double(1 << 20))) : 1;
    total *= dims[a];
  }
  return total;
}

int64_t Grid::sort_into_cells(const float* pts) {
  const int64_t cells = num_cells();
  start_.assign(size_t(cells + 1), 0);
  std::vector<int32_t> cell(static_cast<size_t>(n_));
  for (int64_t p = 0; p < n_; ++p) {
    const int64_t c = (cell_of(pts[3 * p + 2], 2) * dims_[1] + cell_of(pts[3 * p + 1], 1)) * dims_[0] +
                      cell_of(pts[3 * p], 0);
    cell[size_t(p)] = int32_t(c);
    ++start_[size_t(c + 1)];
  }
  int64_t occupied = 0;
  for (int64_t c = 0; c < cells; ++c) {
    occupied += start_[size_t(c + 1)] > 0;
    start_[size_t(c + 1)] += start_[size_t(c)];
  }
  // Stable scatter: within a cell, points keep their original order.
  std::vector<int32_t> cursor(start_.begin(), start_.end() - 1);
  pts_.resize(size_t(n_));
  for (int64_t p = 0; p < n_; ++p) {
    pts_[size_t(cursor[size_t(cell[size_t(p)])]++)] = {pts[3 * p], pts[3 * p + 1], pts[3 * p + 2], int32_t(p)};
  }
  return occupied;
}

void Grid::build(const float* pts, int64_t n) {
  n_ = n;
  if (n == 0) return;
  double hi[3];
  for (int a = 0; a < 3; ++a) lo_[a] = hi[a] = pts[a];
  for (int64_t p = 1; p < n; ++p)
    for (int a = 0; a < 3; ++a) {
      const double v = pts[3 * p + a];
      if (v < lo_[a]) lo_[a] = v;
      if (v > hi[a]) hi[a] = v;
    }
  double extent[3], emax = 0.0;
  for (int a = 0; a < 3; ++a) {
    extent[a] = hi[a] - lo_[a];
    emax = std::max(emax, extent[a]);
  }
  if (n < kBruteForceBelow || !(emax > 0.0) || !std::isfinite(emax)) {
    dims_[0] = dims_[1] = dims_[2] = 1;
    h_ = 1.0;
    inv_h_ = 0.0;
    sort_into_cells(pts);
    return;
  }
  // Axes thinner than this are flat: they get one cell and do not count in the volume.
  double volume = 1.0;
  int active = 0;
  for (int a = 0; a < 3; ++a)
    if (extent[a] > 1e-4 * emax) {
      volume *= extent[a];
      ++active;
    }
  const int64_t cap = int64_t(kCellsPerPoint * double(n)) + 64;
  double h = std::pow(volume * kPointsPerCell / double(n), 1.0 / active);
  for (int refine = 0;; ++refine) {
    while (dims_for(h, extent, dims_) > cap) h *= 1.1;
    h_ = h;
    inv_h_ = 1.0 / h;
    const int64_t occupied = sort_into_cells(pts);
    const double mean = double(n) / double(std::max<int64_t>(occupied, 1));
    if (refine == 3 || mean <= kRefineAbove) return;
    // Points concentrated on a surface or in clusters: shrink the cells (as for a surface, occupancy
    // falls with the square of the cell size) as far as the cap allows.
    double finer = h / std::min(std::sqrt(mean / kPointsPerCell), 4.0);
    int64_t dims[3];
    while (dims_for(finer, extent, dims) > cap) finer *= 1.1;
    if (finer > 0.9 * h) return;
    h = finer;
  }
}

template <class Best>
void Grid::query(const float* q, Best& best) const {
  if (n_ == 0) return;
  const float qx = q[0], qy = q[1], qz = q[2];
  const double qd[3] = {qx, qy, qz};
  const int64_t c[3] = {cell_of(qd[0], 0), cell_of(qd[1], 1), cell_of(qd[2], 2)};
  int64_t rmax = 0;
  for (int a = 0; a < 3; ++a) rmax = std::max({rmax, c[a], dims_[a] - 1 - c[a]});
  for (int64_t r = 0; r <= rmax; ++r) {
    const int64_t x0 = std::max<int64_t>(c[0] - r, 0), x1 = std::min(c[0] + r, dims_[0] - 1);
    const int64_t y0 = std::max<int64_t>(c[1] - r, 0), y1 = std::min(c[1] + r, dims_[1] - 1);
    const int64_t z0 = std::max<int64_t>(c[2] - r, 0), z1 = std::min(c[2] + r, dims_[2] - 1);
    // Shell r = the cells of the cube of radius r around c with some coordinate exactly c +- r.
    for (int64_t z = z0; z <= z1; ++z) {
      const double gz = gap(qd[2], z, 2), gz2 = gz * gz;
      if (gz2 >= best.kth()) continue;
      const bool z_on = (z == c[2] - r || z == c[2] + r);
      for (int64_t y = y0; y <= y1; ++y) {
        const double gy = gap(qd[1], y, 1), lb = gz2 + gy * gy;
        const double kth = best.kth();
        if (lb >= kth) continue;
        int64_t ta = x0, tb = x1;
        if (kth < double(kInf)) {  // only cells within the current K-th radius along x can help
          const double s = std::sqrt(kth - lb) * (1.0 + 1e-5) + 1e-9 * h_;
          ta = std::max(ta, cell_of(qd[0] - s, 0));
          tb = std::min(tb, cell_of(qd[0] + s, 0));
        }
        const int64_t row = (z * dims_[1] + y) * dims_[0];
        if (z_on || y == c[1] - r || y == c[1] + r) {
          if (ta <= tb && scan(row + ta, row + tb, qx, qy, qz, best)) return;
        } else {
          const int64_t xl = c[0] - r, xr = c[0] + r;
          if (xl >= ta && xl <= tb && scan(row + xl, row + xl, qx, qy, qz, best)) return;
          if (xr >= ta && xr <= tb && scan(row + xr, row + xr, qx, qy, qz, best)) return;
        }
      }
    }
    // Every cell outside the cube is at least `bound` away; stop once the K-th best is no farther.
    double bound = std::numeric_limits<double>::infinity();
    for (int a = 0; a < 3; ++a) {
      if (c[a] - r > 0) bound = std::min(bound, qd[a] - (lo_[a] + double(c[a] - r) * h_));
      if (c[a] + r < dims_[a] - 1) bound = std::min(bound, lo_[a] + double(c[a] + r + 1) * h_ - qd[a]);
    }
    if (bound == std::numeric_limits<double>::infinity()) return;  // the cube covers the whole grid
    bound = shrink(bound);
    if (double(best.kth()) <= bound * bound) return;
  }
}

void fill_empty(float* dist, int64_t* idx, int64_t K) {
  for (int64_t k = 0; k < K; ++k) {
    dist[k] = kInf;
    idx[k] = -1;
  }
}

}  // namespace

void knn_cpu(const float* a, const float* b, const int64_t* lengths_a, const int64_t* lengths_b, int64_t B,
             int64_t N, int64_t M, int64_t K, float* dist, int64_t* idx) {
  if (B == 0 || N == 0) return;
  std::vector<Grid> grids(static_cast<size_t>(B));
  // Queries go in chunks so both the batch and the points within one cloud spread over the threads.
  const int64_t chunk = 128;
  const int64_t chunks = (N + chunk - 1) / chunk;
#pragma omp parallel
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < B; ++i) grids[size_t(i)].build(b + i * M * 3, lengths_b[i]);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < B * chunks; ++t) {
      const int64_t i = t / chunks, n0 = (t % chunks) * chunk, n1 = std::min(N, n0 + chunk);
      const Grid& grid = grids[size_t(i)];
      for (int64_t n = n0; n < n1; ++n) {
        const int64_t o = (i * N + n) * K;
        if (n >= lengths_a[i]) {
          fill_empty(dist + o, idx + o, K);
        } else if (K == 1) {
          BestOne best;
          grid.query(a + (i * N + n) * 3, best);
          best.write(dist + o, idx + o);
        } else {
          BestMany best{int(K)};
          grid.query(a + (i * N + n) * 3, best);
          best.write(dist + o, idx + o);
        }
      }
    }
  }
}

}  // namespace vips
