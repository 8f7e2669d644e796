// Strongly connected components in topological order (iterative Tarjan), for compile().
#include <algorithm>
#include <vector>

#include "kernels.hpp"

namespace phasic {

namespace {

// Re-sorts topologically ordered SCCs (perm, scc_ptr) by their longest-path depth from the
// sources, stably: still a topological order (an edge between SCCs goes to a greater depth), and
// the states a chain reaches after m jumps sit together when every path to them has m jumps (the
// levels of a coalescent), so the sweeps over a level (solve, the Coxian reduction) read nearby
// states instead of ones spread over the whole graph by the depth-first search.
std::vector<int64_t> level_order(int64_t n, const int64_t* indptr, const int32_t* indices,
                                 int64_t* perm, const std::vector<int64_t>& scc_ptr) {
  const int64_t nc = static_cast<int64_t>(scc_ptr.size()) - 1;
  std::vector<int64_t> comp(static_cast<size_t>(n)), depth(static_cast<size_t>(nc), 0);
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t t = scc_ptr[c]; t < scc_ptr[c + 1]; ++t) comp[perm[t]] = c;
  int64_t top = 0;
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t d = depth[c] + 1;
    top = std::max(top, depth[c]);
    for (int64_t t = scc_ptr[c]; t < scc_ptr[c + 1]; ++t)
      for (int64_t e = indptr[perm[t]]; e < indptr[perm[t] + 1]; ++e) {
        const int64_t w = indices[e];
        if (w < 0 || w >= n || comp[w] == c) continue;
        depth[comp[w]] = std::max(depth[comp[w]], d);
      }
  }
  // counting sort of the components by depth (stable)
  std::vector<int64_t> first(static_cast<size_t>(top + 2), 0), order(static_cast<size_t>(nc));
  for (int64_t c = 0; c < nc; ++c) ++first[depth[c] + 1];
  for (int64_t d = 0; d <= top; ++d) first[d + 1] += first[d];
  for (int64_t c = 0; c < nc; ++c) order[first[depth[c]]++] = c;
  std::vector<int64_t> old(perm, perm + n), ptr(static_cast<size_t>(nc + 1), 0);
  int64_t pos = 0;
  for (int64_t k = 0; k < nc; ++k) {
    const int64_t c = order[k];
    for (int64_t t = scc_ptr[c]; t < scc_ptr[c + 1]; ++t) perm[pos++] = old[t];
    ptr[k + 1] = pos;
  }
  return ptr;
}

}  // namespace

std::vector<int64_t> scc_order(int64_t n, const int64_t* indptr, const int32_t* indices,
                               int64_t* perm) {
  // Iterative Tarjan. SCCs are emitted sinks first; reversed at the end.
  std::vector<int64_t> index(n, -1), low(n, 0), stack, comps_flat, comp_sizes;
  std::vector<char> on_stack(n, 0);
  std::vector<std::pair<int64_t, int64_t>> call;  // (vertex, next edge)
  stack.reserve(n);
  comps_flat.reserve(n);
  int64_t counter = 0;
  for (int64_t root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    call.emplace_back(root, indptr[root]);
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = 1;
    while (!call.empty()) {
      auto& [v, e] = call.back();
      bool descended = false;
      while (e < indptr[v + 1]) {
        const int64_t w = indices[e++];
        if (w < 0 || w >= n) continue;
        if (index[w] < 0) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = 1;
          call.emplace_back(w, indptr[w]);
          descended = true;
          break;
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
      }
      if (descended) continue;
      const int64_t vv = v;
      if (low[vv] == index[vv]) {
        int64_t size = 0, w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          comps_flat.push_back(w);
          ++size;
        } while (w != vv);
        comp_sizes.push_back(size);
      }
      call.pop_back();
      if (!call.empty()) {
        const int64_t parent = call.back().first;
        low[parent] = std::min(low[parent], low[vv]);
      }
    }
  }
  // Reverse the component order (sources first); keep vertices of a component contiguous.
  const int64_t nc = static_cast<int64_t>(comp_sizes.size());
  std::vector<int64_t> scc_ptr(nc + 1, 0);
  int64_t pos = 0, end = n;
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t sz = comp_sizes[nc - 1 - c];
    const int64_t start = end - sz;
    // components in comps_flat are stored in emission order; the last emitted ends at n
    for (int64_t t = 0; t < sz; ++t) perm[pos + t] = comps_flat[start + sz - 1 - t];
    end = start;
    pos += sz;
    scc_ptr[c + 1] = pos;
  }
  return level_order(n, indptr, indices, perm, scc_ptr);
}

}  // namespace phasic
