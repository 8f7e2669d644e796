// StateTable: the state rows of a graph under construction, found by hash. The vectorized
// builder hands it a whole frontier of candidate next states at once; one call finds or appends
// every row, so a model with millions of edges costs one pass over their states in C++ rather
// than a Python tuple and dict lookup per edge.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using Rows = nb::ndarray<const int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Ids = nb::ndarray<nb::numpy, int64_t, nb::ndim<1>>;
using RowsOut = nb::ndarray<nb::numpy, int64_t, nb::ndim<2>>;
using Order = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

class StateTable {
 public:
  explicit StateTable(int64_t L) : L_(L) {
    if (L < 1) throw std::invalid_argument("StateTable: state length must be >= 1");
    slots_.assign(1024, -1);
  }

  int64_t size() const { return n_; }

  Ids insert(const Rows& rows) { return lookup(rows, true, nullptr); }
  Ids find(const Rows& rows) { return lookup(rows, false, nullptr); }
  // New rows get ids in the order rows[order[0]], rows[order[1]], ... (ids stay aligned with
  // rows): the builder numbers states by (source, kind) without first permuting the rows.
  // The rows are the concatenation of `parts` (never copied into one array).
  Ids insert_ordered(const std::vector<Rows>& parts, const Order& order) {
    std::vector<const int64_t*> ptrs;
    for (const auto& p : parts) {
      if (static_cast<int64_t>(p.shape(1)) != L_)
        throw std::invalid_argument("StateTable: rows have length " + std::to_string(p.shape(1)) +
                                    ", the table's states " + std::to_string(L_));
      for (size_t b = 0; b < p.shape(0); ++b) ptrs.push_back(p.data() + b * L_);
    }
    const int64_t B = static_cast<int64_t>(ptrs.size());
    if (static_cast<int64_t>(order.shape(0)) != B)
      throw std::invalid_argument("StateTable.insert_ordered: order must have one entry per row");
    for (int64_t b = 0; b < B; ++b)
      if (order.data()[b] < 0 || order.data()[b] >= B)
        throw std::invalid_argument("StateTable.insert_ordered: order holds an index out of range");
    return lookup_ptrs(ptrs, true, order.data());
  }

  RowsOut rows(int64_t start, int64_t stop) const {
    if (start < 0 || stop > n_ || stop < start)
      throw std::out_of_range("StateTable.rows: range " + std::to_string(start) + ".." +
                              std::to_string(stop) + " outside 0.." + std::to_string(n_));
    const size_t m = static_cast<size_t>((stop - start) * L_);
    auto* out = new int64_t[m > 0 ? m : 1];
    const size_t at = static_cast<size_t>(start * L_);
    switch (width_) {
      case 1: widen_copy<int8_t>(at, m, out); break;
      case 2: widen_copy<int16_t>(at, m, out); break;
      case 4: widen_copy<int32_t>(at, m, out); break;
      default: widen_copy<int64_t>(at, m, out);
    }
    nb::capsule owner(out, [](void* p) noexcept { delete[] static_cast<int64_t*>(p); });
    return RowsOut(out, {static_cast<size_t>(stop - start), static_cast<size_t>(L_)}, owner);
  }

  // Rows kept outside the lookup (a vertex made by create_vertex): stored and numbered like the
  // others, never found by find or insert.
  Ids append_rows(const Rows& rows) {
    if (static_cast<int64_t>(rows.shape(1)) != L_)
      throw std::invalid_argument("StateTable: rows have length " + std::to_string(rows.shape(1)) +
                                  ", the table's states " + std::to_string(L_));
    const int64_t B = static_cast<int64_t>(rows.shape(0));
    auto* ids = new int64_t[B > 0 ? B : 1];
    nb::capsule owner(ids, [](void* p) noexcept { delete[] static_cast<int64_t*>(p); });
    for (int64_t b = 0; b < B; ++b) {
      append(rows.data() + b * L_);
      hash_.push_back(0);
      unindexed_.resize(static_cast<size_t>(n_ + 1), 0);
      unindexed_[n_] = 1;
      ids[b] = n_++;
    }
    return Ids(ids, {static_cast<size_t>(B)}, owner);
  }

  RowsOut take(const Order& ids) const {
    const size_t m = ids.shape(0);
    for (size_t q = 0; q < m; ++q)
      if (ids.data()[q] < 0 || ids.data()[q] >= n_)
        throw std::out_of_range("StateTable.take: id outside 0.." + std::to_string(n_ - 1));
    auto* out = new int64_t[m * L_ > 0 ? m * L_ : 1];
    for (size_t q = 0; q < m; ++q) {
      const size_t at = static_cast<size_t>(ids.data()[q] * L_);
      switch (width_) {
        case 1: widen_copy<int8_t>(at, L_, out + q * L_); break;
        case 2: widen_copy<int16_t>(at, L_, out + q * L_); break;
        case 4: widen_copy<int32_t>(at, L_, out + q * L_); break;
        default: widen_copy<int64_t>(at, L_, out + q * L_);
      }
    }
    nb::capsule owner(out, [](void* p) noexcept { delete[] static_cast<int64_t*>(p); });
    return RowsOut(out, {m, static_cast<size_t>(L_)}, owner);
  }

  int64_t nbytes() const {
    return static_cast<int64_t>(data_.capacity() +
                                hash_.capacity() * sizeof(uint64_t) +
                                slots_.capacity() * sizeof(int32_t));
  }

 private:
  int64_t L_;
  int64_t n_ = 0;
  // n_ * L_ state values, row by row, each in width_ bytes: the narrowest signed integer that
  // holds every value so far (1 byte for lineage counts), widened when a larger value arrives.
  // A 162-value state of the IM 8 + 8 model takes 162 bytes instead of 1,296.
  std::vector<uint8_t> data_;
  int width_ = 1;

  template <typename T>
  void widen_copy(size_t at, size_t m, int64_t* out) const {
    const T* s = reinterpret_cast<const T*>(data_.data()) + at;
    for (size_t k = 0; k < m; ++k) out[k] = s[k];
  }

  int64_t value(size_t k) const {
    switch (width_) {
      case 1: return reinterpret_cast<const int8_t*>(data_.data())[k];
      case 2: return reinterpret_cast<const int16_t*>(data_.data())[k];
      case 4: return reinterpret_cast<const int32_t*>(data_.data())[k];
      default: return reinterpret_cast<const int64_t*>(data_.data())[k];
    }
  }

  static int width_of(const int64_t* r, int64_t L) {
    int64_t lo = 0, hi = 0;
    for (int64_t k = 0; k < L; ++k) {
      lo = r[k] < lo ? r[k] : lo;
      hi = r[k] > hi ? r[k] : hi;
    }
    if (lo >= INT8_MIN && hi <= INT8_MAX) return 1;
    if (lo >= INT16_MIN && hi <= INT16_MAX) return 2;
    if (lo >= INT32_MIN && hi <= INT32_MAX) return 4;
    return 8;
  }

  template <typename T>
  static bool equal_as(const uint8_t* stored, const int64_t* r, int64_t L) {
    const T* s = reinterpret_cast<const T*>(stored);
    bool eq = true;
    for (int64_t k = 0; k < L; ++k) eq &= (static_cast<int64_t>(s[k]) == r[k]);
    return eq;
  }

  bool equal(int64_t i, const int64_t* r) const {
    const uint8_t* s = data_.data() + static_cast<size_t>(i * L_ * width_);
    switch (width_) {
      case 1: return equal_as<int8_t>(s, r, L_);
      case 2: return equal_as<int16_t>(s, r, L_);
      case 4: return equal_as<int32_t>(s, r, L_);
      default: return std::memcmp(s, r, L_ * sizeof(int64_t)) == 0;
    }
  }

  template <typename T>
  static void put_as(uint8_t* dst, const int64_t* r, int64_t L) {
    T* d = reinterpret_cast<T*>(dst);
    for (int64_t k = 0; k < L; ++k) d[k] = static_cast<T>(r[k]);
  }

  void put(uint8_t* dst, const int64_t* r, int width) const {
    switch (width) {
      case 1: put_as<int8_t>(dst, r, L_); break;
      case 2: put_as<int16_t>(dst, r, L_); break;
      case 4: put_as<int32_t>(dst, r, L_); break;
      default: put_as<int64_t>(dst, r, L_);
    }
  }

  void append(const int64_t* r) {
    const int w = width_of(r, L_);
    if (w > width_) {  // rewrite every stored value at the new width
      std::vector<uint8_t> wide(static_cast<size_t>(n_ * L_ * w));
      std::vector<int64_t> row(static_cast<size_t>(L_));
      for (int64_t i = 0; i < n_; ++i) {
        for (int64_t k = 0; k < L_; ++k) row[k] = value(static_cast<size_t>(i * L_ + k));
        put(wide.data() + i * L_ * w, row.data(), w);
      }
      wide.reserve(data_.capacity() / width_ * w);
      data_.swap(wide);
      width_ = w;
    }
    const size_t at = data_.size();
    data_.resize(at + static_cast<size_t>(L_ * width_));
    put(data_.data() + at, r, width_);
  }
  std::vector<uint64_t> hash_;  // hash of each row (rehashing and a cheap first comparison)
  std::vector<int32_t> slots_;  // open addressing, linear probing: row id or -1
  std::vector<uint8_t> unindexed_;  // 1 for rows outside the lookup (empty while there are none)

  // Four independent lanes so the multiplies overlap (states are tens to hundreds of values).
  uint64_t hash_row(const int64_t* r) const {
    constexpr uint64_t k0 = 0x9E3779B97F4A7C15ull, k1 = 0xBF58476D1CE4E5B9ull;
    uint64_t h[4] = {k0 ^ static_cast<uint64_t>(L_), k1, k0 + k1, k1 - k0};
    int64_t k = 0;
    for (; k + 4 <= L_; k += 4)
      for (int l = 0; l < 4; ++l) h[l] = (h[l] ^ static_cast<uint64_t>(r[k + l])) * k1 + k0;
    for (; k < L_; ++k) h[0] = (h[0] ^ static_cast<uint64_t>(r[k])) * k1 + k0;
    uint64_t x = h[0] ^ (h[1] * k0) ^ ((h[2] * k1) >> 7) ^ (h[3] * (k0 | 1));
    x ^= x >> 31;
    x *= k1;
    x ^= x >> 29;
    return x;
  }

  void grow() {
    std::vector<int32_t> s(slots_.size() * 2, -1);
    const uint64_t mask = s.size() - 1;
    for (int64_t i = 0; i < n_; ++i) {
      if (i < static_cast<int64_t>(unindexed_.size()) && unindexed_[i]) continue;
      uint64_t j = hash_[i] & mask;
      while (s[j] >= 0) j = (j + 1) & mask;
      s[j] = static_cast<int32_t>(i);
    }
    slots_.swap(s);
  }

  Ids lookup(const Rows& rows, bool add, const int64_t* order) {
    if (static_cast<int64_t>(rows.shape(1)) != L_)
      throw std::invalid_argument("StateTable: rows have length " + std::to_string(rows.shape(1)) +
                                  ", the table's states " + std::to_string(L_));
    std::vector<const int64_t*> ptrs(rows.shape(0));
    for (size_t b = 0; b < ptrs.size(); ++b) ptrs[b] = rows.data() + b * L_;
    return lookup_ptrs(ptrs, add, order);
  }

  Ids lookup_ptrs(const std::vector<const int64_t*>& src, bool add, const int64_t* order) {
    const int64_t B = static_cast<int64_t>(src.size());
    auto* ids = new int64_t[B > 0 ? B : 1];
    nb::capsule owner(ids, [](void* p) noexcept { delete[] static_cast<int64_t*>(p); });
    {
      nb::gil_scoped_release release;
      // Hash every row first, then probe with the slot of a row a few ahead prefetched: the
      // table and the rows it points to are far larger than the caches.
      std::vector<uint64_t> hs(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) hs[b] = hash_row(src[b]);
      constexpr int64_t kAhead = 8;
      for (int64_t q = 0; q < B; ++q) {
        if (q + kAhead < B) {
          const int64_t ba = order ? order[q + kAhead] : q + kAhead;
          __builtin_prefetch(&slots_[hs[ba] & (slots_.size() - 1)]);
        }
        const int64_t b = order ? order[q] : q;
        const int64_t* r = src[b];
        const uint64_t h = hs[b];
        uint64_t mask = slots_.size() - 1;
        uint64_t j = h & mask;
        int64_t found = -1;
        while (slots_[j] >= 0) {
          const int64_t i = slots_[j];
          if (hash_[i] == h && equal(i, r)) {
            found = i;
            break;
          }
          j = (j + 1) & mask;
        }
        if (found < 0 && add) {
          if (n_ >= INT32_MAX) throw std::length_error("StateTable: more than 2^31 - 1 states");
          append(r);  // before counting it: a widening rewrites the n_ rows stored so far
          found = n_++;
          hash_.push_back(h);
          if (!unindexed_.empty()) unindexed_.push_back(0);
          slots_[j] = static_cast<int32_t>(found);
          if (2 * n_ > static_cast<int64_t>(slots_.size())) grow();  // load factor <= 1/2
        }
        ids[b] = found;
      }
    }
    return Ids(ids, {static_cast<size_t>(B)}, owner);
  }
};

}  // namespace

void bind_state_table(nb::module_& m) {
  nb::class_<StateTable>(m, "StateTable",
                         "Int64 state rows of one length, found by hash; ids in insertion order.")
      .def(nb::init<int64_t>(), "L"_a)
      .def("size", &StateTable::size)
      .def("nbytes", &StateTable::nbytes)
      .def("insert", &StateTable::insert, "rows"_a,
           "Ids of rows (B, L), appending new ones in order of first appearance.")
      .def("insert_ordered", &StateTable::insert_ordered, "parts"_a, "order"_a,
           "As insert on the concatenated parts, visiting rows in the given order (ids stay "
           "aligned with the rows).")
      .def("find", &StateTable::find, "rows"_a, "Ids of rows (B, L); -1 where absent.")
      .def("copy", [](const StateTable& t) { return StateTable(t); },
           "An independent table: the same rows, ids and lookup.")
      .def("append", &StateTable::append_rows, "rows"_a,
           "Append rows outside the lookup (never found); returns their ids.")
      .def("take", &StateTable::take, "ids"_a, "Copy of the rows with the given ids.")
      .def("rows", &StateTable::rows, "start"_a, "stop"_a, "Copy of rows start..stop-1.");
}
