// CPU K-nearest neighbours: one uniform grid per cloud of b, searched in growing cubic shells around the
// query's cell until the K-th best distance is closer than anything outside the shells; a kd-tree over
// the same cloud answers what the grid answers badly.
//
// Why a grid first: it is built in O(M) by a counting sort and a query touches a handful of contiguous
// point ranges, which beats tree descent for the 3D point clouds we match (mesh samples, overlapping
// clouds). The cell size comes from the bounding box and the point count, then is refined when the points
// turn out to be concentrated on a surface or in clusters (many points per occupied cell). Small clouds
// end up with one cell, i.e. brute force. Every grid pruning test is a lower bound shrunk by a small
// margin, so rounding in the cell arithmetic can cost a little extra work but never a wrong neighbour.
//
// Why a kd-tree too: queries far from the cloud (outside it, or in the empty middle of a sphere) would walk
// many empty cells, and clouds the grid cannot resolve under its size cap (points on a line, tight
// clusters far apart) would put hundreds of points in a cell. Queries not settled within a few shells, and
// every query of such clouds, go to the tree, which is built on first need.
// All points identical is answered directly (the first K indices all tie).
#include "knn/knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
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

// Same float32 expression as the CUDA kernel so both give identical distances. (The default x86-64 target
// has no FMA, so GCC cannot contract it; a -march=native build may, and then differs in the last bit.)
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
  void reset() { d = kInf; i = -1; }
  void write(float* dist, int64_t* idx) const { dist[0] = d; idx[0] = i; }
};

// Small K: a sorted array with insertion; d[K - 1] is the admission threshold.
struct BestMany {
  float d[kKnnMaxK];
  int32_t i[kKnnMaxK];
  int K;
  explicit BestMany(int k) : K(k) { reset(); }
  void reset() {
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

  // Searches shells of cells up to max_radius around q's cell. Returns true when `best` is final, false
  // when the answer may lie farther (the caller then asks the kd-tree).
  template <class Best>
  bool query(const float* q, Best& best, int64_t max_radius) const;
  bool all_identical() const { return n_ > 0 && identical_; }
  double mean_occupancy() const { return occupancy_; }

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
  bool identical_ = false;
  double occupancy_ = 0.0;  // mean points per occupied cell
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
  for (int a = 0; a < 3; ++a) {
    lo_[a] = std::numeric_limits<double>::infinity();
    hi[a] = -lo_[a];
  }
  for (int64_t p = 0; p < n; ++p)
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
    identical_ = emax == 0.0 && std::isfinite(lo_[0] + lo_[1] + lo_[2]);
    occupancy_ = n < kBruteForceBelow ? 0.0 : double(n);  // large one-cell clouds go to the kd-tree
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
    occupancy_ = mean;
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
bool Grid::query(const float* q, Best& best, int64_t max_radius) const {
  const float qx = q[0], qy = q[1], qz = q[2];
  const double qd[3] = {qx, qy, qz};
  const int64_t c[3] = {cell_of(qd[0], 0), cell_of(qd[1], 1), cell_of(qd[2], 2)};
  // Squared distance from q to the grid's box along each axis (non-zero for queries outside it).
  double outside2[3];
  for (int a = 0; a < 3; ++a) {
    const double g = shrink(std::max({lo_[a] - qd[a], qd[a] - (lo_[a] + double(dims_[a]) * h_), 0.0}));
    outside2[a] = g * g;
  }
  // Far outside the grid the shells would mostly walk empty cells: leave such queries to the kd-tree.
  const double r_out = double(max_radius) * h_;
  if (outside2[0] + outside2[1] + outside2[2] > r_out * r_out && dims_[0] * dims_[1] * dims_[2] > 1) return false;
  int64_t rmax = 0;
  for (int a = 0; a < 3; ++a) rmax = std::max({rmax, c[a], dims_[a] - 1 - c[a]});
  for (int64_t r = 0; r <= std::min(rmax, max_radius); ++r) {
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
          if (ta <= tb && scan(row + ta, row + tb, qx, qy, qz, best)) return true;
        } else {
          const int64_t xl = c[0] - r, xr = c[0] + r;
          if (xl >= ta && xl <= tb && scan(row + xl, row + xl, qx, qy, qz, best)) return true;
          if (xr >= ta && xr <= tb && scan(row + xr, row + xr, qx, qy, qz, best)) return true;
        }
      }
    }
    // The cells outside the cube form up to six slabs; stop once the K-th best is no farther than the
    // nearest slab (its distance counts the other axes too, which matters for queries outside the grid).
    double bound2 = std::numeric_limits<double>::infinity();
    for (int a = 0; a < 3; ++a) {
      const double rest = outside2[(a + 1) % 3] + outside2[(a + 2) % 3];
      if (c[a] - r > 0) {
        const double g = shrink(qd[a] - (lo_[a] + double(c[a] - r) * h_));
        bound2 = std::min(bound2, g * g + rest);
      }
      if (c[a] + r < dims_[a] - 1) {
        const double g = shrink(lo_[a] + double(c[a] + r + 1) * h_ - qd[a]);
        bound2 = std::min(bound2, g * g + rest);
      }
    }
    if (bound2 == std::numeric_limits<double>::infinity()) return true;  // the cube covers the whole grid
    if (double(best.kth()) <= bound2) return true;
  }
  return false;
}

// A kd-tree over the same cloud: the fallback for queries far from the cloud's points (where grid shells
// would walk many empty cells) and for clouds the grid cannot resolve (points on a line, tight clusters).
// Median splits on the widest axis; leaves of up to kLeaf points stored contiguously.
class KdTree {
 public:
  void build(const float* pts, int64_t n) {
    n_ = n;
    pts_.resize(size_t(n));
    for (int64_t p = 0; p < n; ++p) pts_[size_t(p)] = {pts[3 * p], pts[3 * p + 1], pts[3 * p + 2], int32_t(p)};
    for (int a = 0; a < 3; ++a) {
      lo_[a] = kInf;
      hi_[a] = -kInf;
    }
    for (const GridPoint& p : pts_)
      for (int a = 0; a < 3; ++a) {
        lo_[a] = std::min(lo_[a], coord(p, a));
        hi_[a] = std::max(hi_[a], coord(p, a));
      }
    size_t cap = 1;
    while (int64_t(cap) * kLeaf < n) cap *= 2;
    split_.assign(cap + 1, 0.f);
    axis_.assign(cap + 1, 0);
    build_node(0, 0, n, 0);
  }

  template <class Best>
  void query(const float* q, Best& best) const {
    // Start from the offset to the cloud's bounding box, so queries far outside it prune on every axis.
    float off[3];
    for (int a = 0; a < 3; ++a) off[a] = q[a] - std::min(std::max(q[a], lo_[a]), hi_[a]);
    search(0, 0, n_, q, off, best);
  }

 private:
  static constexpr int64_t kLeaf = 8;
  static float coord(const GridPoint& p, int axis) { return axis == 0 ? p.x : axis == 1 ? p.y : p.z; }

  void build_node(size_t node, int64_t lo, int64_t hi, int depth) {
    if (hi - lo <= kLeaf) return;
    float mn[3] = {kInf, kInf, kInf}, mx[3] = {-kInf, -kInf, -kInf};
    for (int64_t p = lo; p < hi; ++p)
      for (int a = 0; a < 3; ++a) {
        const float v = coord(pts_[size_t(p)], a);
        mn[a] = std::min(mn[a], v);
        mx[a] = std::max(mx[a], v);
      }
    // Widest axis; on ties (duplicate points) rotate with depth so every axis gets split.
    int axis = depth % 3;
    for (int a = 0; a < 3; ++a)
      if (mx[a] - mn[a] > mx[axis] - mn[axis]) axis = a;
    const int64_t mid = (lo + hi) / 2;
    std::nth_element(pts_.begin() + lo, pts_.begin() + mid, pts_.begin() + hi,
                     [axis](const GridPoint& u, const GridPoint& v) { return coord(u, axis) < coord(v, axis); });
    split_[node] = coord(pts_[size_t(mid)], axis);
    axis_[node] = uint8_t(axis);
    build_node(2 * node + 1, lo, mid, depth + 1);
    build_node(2 * node + 2, mid, hi, depth + 1);
  }

  // off holds, per axis, a lower bound on |q - p| along that axis for every point p of the subtree (from
  // the bounding box and the split planes crossed on the way down). The far-side
  // bound uses the same float expression as sqdist; rounding is monotone, so it never exceeds the distance
  // of a point in that subtree and the pruning needs no margin.
  template <class Best>
  bool search(size_t node, int64_t lo, int64_t hi, const float* q, float* off, Best& best) const {
    if (hi - lo <= kLeaf) {
      for (int64_t p = lo; p < hi; ++p) {
        const float d = sqdist(q[0], q[1], q[2], pts_[size_t(p)]);
        if (d < best.kth()) {
          best.push(d, pts_[size_t(p)].index);
          if (best.kth() == 0.f) return true;
        }
      }
      return false;
    }
    const int axis = axis_[node];
    const int64_t mid = (lo + hi) / 2;
    const float diff = q[axis] - split_[node];
    const bool left_first = diff < 0.f;
    if (left_first ? search(2 * node + 1, lo, mid, q, off, best) : search(2 * node + 2, mid, hi, q, off, best))
      return true;
    const float old = off[axis];
    if (std::fabs(diff) > std::fabs(old)) off[axis] = diff;  // both bound the far side; keep the larger
    const float rd = (off[0] * off[0] + off[1] * off[1]) + off[2] * off[2];
    bool done = false;
    if (rd < best.kth())
      done = left_first ? search(2 * node + 2, mid, hi, q, off, best) : search(2 * node + 1, lo, mid, q, off, best);
    off[axis] = old;
    return done;
  }

  int64_t n_ = 0;
  float lo_[3] = {0, 0, 0}, hi_[3] = {0, 0, 0};  // bounding box of the cloud
  std::vector<GridPoint> pts_;
  std::vector<float> split_;
  std::vector<uint8_t> axis_;
};

// One cloud of b: a grid for the common local queries, a kd-tree (built on first need) for the rest.
class Cloud {
 public:
  void build(const float* pts, int64_t n) {
    pts_ = pts;
    n_ = n;
    if (n == 0) return;
    grid_.build(pts, n);
    identical_ = grid_.all_identical();
    tree_only_ = !identical_ && grid_.mean_occupancy() > kTreeAbove;
    if (tree_only_) ensure_tree();
  }

  template <class Best>
  void query(const float* q, Best& best) {
    if (n_ == 0) return;
    if (identical_) {  // every point ties: the first K indices
      const GridPoint p0 = {pts_[0], pts_[1], pts_[2], 0};
      const float d = sqdist(q[0], q[1], q[2], p0);
      for (int64_t k = 0; k < std::min<int64_t>(n_, kKnnMaxK) && d < best.kth(); ++k) best.push(d, int32_t(k));
      return;
    }
    if (!tree_only_ && grid_.query(q, best, kLocalShells)) return;
    ensure_tree();
    best.reset();
    tree_.query(q, best);
  }

 private:
  static constexpr int64_t kLocalShells = 3;
  static constexpr double kTreeAbove = 16.0;
  void ensure_tree() {
    std::call_once(tree_built_, [this] { tree_.build(pts_, n_); });
  }

  const float* pts_ = nullptr;
  int64_t n_ = 0;
  bool identical_ = false, tree_only_ = false;
  Grid grid_;
  KdTree tree_;
  std::once_flag tree_built_;
};

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
  std::vector<Cloud> clouds(static_cast<size_t>(B));
  // Queries go in chunks so both the batch and the points within one cloud spread over the threads.
  const int64_t chunk = 128;
  const int64_t chunks = (N + chunk - 1) / chunk;
#pragma omp parallel
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < B; ++i) clouds[size_t(i)].build(b + i * M * 3, lengths_b[i]);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < B * chunks; ++t) {
      const int64_t i = t / chunks, n0 = (t % chunks) * chunk, n1 = std::min(N, n0 + chunk);
      Cloud& cloud = clouds[size_t(i)];
      for (int64_t n = n0; n < n1; ++n) {
        const int64_t o = (i * N + n) * K;
        if (n >= lengths_a[i]) {
          fill_empty(dist + o, idx + o, K);
        } else if (K == 1) {
          BestOne best;
          cloud.query(a + (i * N + n) * 3, best);
          best.write(dist + o, idx + o);
        } else {
          BestMany best{int(K)};
          cloud.query(a + (i * N + n) * 3, best);
          best.write(dist + o, idx + o);
        }
      }
    }
  }
}

}  // namespace vips
