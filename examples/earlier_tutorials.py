"""Three models from the earlier phasic's tutorials, written with this phasic: rabbits whose
floods change with the season (epochs), counting runs in a finite Markov chain (auxiliary
vertices in a discrete model) and "carrot" vertices that count mutations on a coalescent.
Each result is checked against a closed form or a second route."""

from math import comb

import numpy as np

from phasic import Graph, models

# --------------------------------------------------------------- 1. rabbits, seasonal flooding
# θ = (flood rate left, flood rate right); the dry season (0.5, 1) lasts until t = 1, then the
# wet season (2, 4). Hopping stays at rate 1 per rabbit.


def rabbits(state, n=3):
    if not state.size:
        return [[[n, 0], 1.0, [0.0, 0.0]]]
    left, right = state
    out = []
    if left:
        out += [[[left - 1, right + 1], float(left), [0.0, 0.0]], [[0, right], 0.0, [1.0, 0.0]]]
    if right:
        out += [[[left + 1, right - 1], float(right), [0.0, 0.0]], [[left, 0], 0.0, [0.0, 1.0]]]
    return out


g = Graph(callback=rabbits, parameterized=True)
seasons = np.array([[0.5, 1.0], [2.0, 4.0]])
starts = [0.0, 1.0]
t = np.array([0.5, 1.0, 2.0, 4.0])
surv = g.survival(t, theta=seasons, epochs=starts)
mean = float(g.expectation(theta=seasons, epochs=starts))
# second route: E[T] = ∫ survival, by the trapezoid rule on a fine grid
grid = np.linspace(0.0, 40.0, 40_001)
by_area = float(np.trapezoid(g.survival(grid, theta=seasons, epochs=starts), grid))
print("seasonal rabbits: P(T > t) at", t.tolist(), "=", np.round(surv, 6).tolist())
print(f"seasonal rabbits: E[T] = {mean:.6f} (area under the survival: {by_area:.6f})")

# -------------------------------------------------- 2. runs of successes in 10 Bernoulli trials
# A discrete chain over (trial, last outcome); every success that follows a failure (or opens
# the sequence) first visits an auxiliary "run" vertex (create_vertex: a second copy of the
# state, outside the state lookup). Visits to run vertices count the runs.
N, p = 10, 0.3
chain = Graph(state_length=2)
start = chain.starting_vertex()
end = chain.find_or_create_vertex([N + 1, 0])
runs = []
for i in range(1, N + 1):  # state [i, last]: after trial i, whose outcome was `last`
    for last in (0, 1):
        v = chain.find_or_create_vertex([i, last])
        if i == N:
            v.add_edge(end, 1.0)
            continue
        v.add_edge(chain.find_or_create_vertex([i + 1, 0]), 1 - p)
        succ = chain.find_or_create_vertex([i + 1, 1])
        if last == 1:
            v.add_edge(succ, p)
        else:  # trial i + 1 opens a run: through an auxiliary vertex, passed with probability 1
            aux = chain.create_vertex([i + 1, 1])
            runs.append(aux.index)
            v.add_edge(aux, p)
            aux.add_edge(succ, 1.0)
# trial 1 opens with a failure or a new run
first_run = chain.create_vertex([0, 1])
runs.append(first_run.index)
start.add_edge(chain.find_vertex([1, 0]), 1 - p)
start.add_edge(first_run, p)
first_run.add_edge(chain.find_vertex([1, 1]), 1.0)
visits = chain.expected_visits_discrete()
expected_runs = float(visits[runs].sum())
print(
    f"runs of successes in {N} trials: E = {expected_runs:.6f} "
    f"(closed form p + (N-1) p (1-p) = {p + (N - 1) * p * (1 - p):.6f})"
)

# ------------------------------------------------- 3. carrot vertices count segregating sites
# Kingman coalescent of n = 4 with mutation rate θ/2 per lineage: from k lineages the next event
# is a coalescence (rate k(k-1)/2) or a mutation (rate kθ/2), which visits a carrot vertex and
# returns. Visits to carrots are the segregating sites S; P(S = s) has Tavaré's closed form.
n, theta = 4, 1.5
carrots = Graph(state_length=1)
vs = {k: carrots.find_or_create_vertex([k]) for k in range(1, n + 1)}
carrots.starting_vertex().add_edge(vs[n], 1.0)
carrot_ids = []
for k in range(2, n + 1):
    coal, mut = k * (k - 1) / 2, k * theta / 2
    carrot = carrots.create_vertex([k])
    carrot_ids.append(carrot.index)
    vs[k].add_edge(vs[k - 1], coal / (coal + mut))
    vs[k].add_edge(carrot, mut / (coal + mut))
    carrot.add_edge(vs[k], 1.0)
reward = np.zeros(carrots.vertices_length())
reward[carrot_ids] = 1.0
pmf = carrots.reward_transform_discrete(reward).pmf_discrete(np.arange(6))


def tavare(s):
    return sum(
        (-1) ** i * comb(n - 1, i - 1) * (i - 1) / (theta + i - 1) * (theta / (theta + i - 1)) ** s
        for i in range(2, n + 1)
    )


# the same distribution from the coalescent itself: counts at rate θ/2 per lineage
kingman = models.kingman(n)
lineages = kingman.states()[:, 0].astype(float)
lineages[0] = 0
table = kingman.joint_prob_table(lineages, 5, rate=theta / 2, theta=[1.0])
print("segregating sites P(S = 0..5), carrots:", np.round(pmf, 6).tolist())
print(
    "segregating sites P(S = 0..5), Tavaré: ", np.round([tavare(s) for s in range(6)], 6).tolist()
)
print("segregating sites P(S = 0..5), counts: ", np.round(table, 6).tolist())
