// Strongly connected components in topological order (iterative Tarjan), for compile().
#include <algorithm>
#include <vector>

#include "kernels.hpp"

namespace phasic {

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
  return scc_ptr;
}

}  // namespace phasic
