"""Demographic inference from mutation data, end to end: simulate with msprime, fit with SVGD.

1. A bottleneck (three epochs of population size) in one population of n samples: the expected
   SFS comes from the block-counting coalescent with epochs, exact and differentiable in the
   sizes and the bottleneck's start; the data are the SFS of independent loci (Poisson random
   field likelihood).
2. Isolation with migration: two populations of n1 + n2 samples that split T ago from an
   ancestral one, exchanging migrants since; the data are the joint SFS.

The posterior of each fit is checked against the truth that msprime simulated. Sizes are in
units of the present size (ploidy 1: a pair of lineages coalesces at rate 1 / size), times in
those units too.

    python demography_inference.py                 # n = 20 and 4 + 4 (about 10 minutes)
    python demography_inference.py --n 10 --n1 3 --n2 3 --iterations 300   # quick (CI, ~2 min)

Cost per particle and iteration (value + gradient, 2 shared cores; `bench/bench_demography.py
--sizes 20 --im 3 4 5 6`): bottleneck n = 20 about 22 ms (4.4 s for 200 particles); IM 3 + 3
(266 states) 1.0 ms, 4 + 4 (1,429) 9.8 ms, 5 + 5 (6,768) 88 ms, 6 + 6 (29,917) 0.62 s, so a
6 + 6 fit with the default 40 particles and 500 iterations takes about 3.5 hours here.

Needs msprime (``pip install msprime``, in phasic's ``test`` extra).
"""

import argparse
import time

import jax.numpy as jnp
import msprime
import numpy as np

import jax
from phasic import SVGD, Graph, models

jax.config.update("jax_enable_x64", True)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n", type=int, default=20, help="samples in the bottleneck population")
parser.add_argument("--n1", type=int, default=4, help="samples of population 1 (IM)")
parser.add_argument("--n2", type=int, default=4, help="samples of population 2 (IM)")
parser.add_argument("--loci", type=int, default=10_000, help="independent loci simulated")
parser.add_argument("--particles", type=int, default=40)
parser.add_argument("--iterations", type=int, default=500)
args = parser.parse_args()
MUTATIONS_PER_LOCUS = 0.1  # per unit of branch length: most loci carry 0 or 1 site


def site_spectra(demography, samples, sets):
    """Summed site frequency spectrum of ``args.loci`` independent loci (no recombination
    within a locus, free between loci), one mutation seed per locus."""
    total = 0
    sims = msprime.sim_ancestry(
        samples=samples, ploidy=1, demography=demography, num_replicates=args.loci, random_seed=1
    )
    for i, ts in enumerate(sims):
        mts = msprime.sim_mutations(
            ts, rate=MUTATIONS_PER_LOCUS, random_seed=1000 + i, discrete_genome=False
        )
        sample_sets = None if sets is None else [mts.samples(population=p) for p in sets]
        total = total + mts.allele_frequency_spectrum(
            sample_sets=sample_sets, mode="site", polarised=True, span_normalise=False
        )
    return total


def log_normal_prior(theta):
    """Each parameter log-normal around 1 (sd 1.5 on the log scale)."""
    z = jnp.log(theta)
    return jnp.sum(-z - 0.5 * (z / 1.5) ** 2)


def fit(model, observed, theta_dim):
    """SVGD on the Poisson random field likelihood, parameters kept positive (log transform)."""
    svgd = SVGD(
        model,
        observed,
        prior=log_normal_prior,
        theta_dim=theta_dim,
        n_particles=args.particles,
        n_iterations=args.iterations,
        likelihood="poisson",
        transform="log",
        # the SVGD paper's kernel: the default whitened kernel contracts a far-off start more
        # slowly; with every SVGD default (1000 iterations) it covers all 9 parameters here
        # too, but not within the quick run's 300 iterations
        kernel="median",
        verbose=False,
    )
    t0 = time.time()
    svgd.fit(return_history=False)
    return svgd, time.time() - t0


def report(name, svgd, truth, labels):
    lo, hi = svgd.credible_interval(0.99)
    mean = svgd.theta_mean
    covered = (lo <= truth) & (truth <= hi)
    print(f"{name}: posterior mean, 99% interval, truth")
    for k, label in enumerate(labels):
        print(
            f"  {label:>4} {mean[k]:8.3f}  [{lo[k]:7.3f}, {hi[k]:7.3f}]  {truth[k]:6.3f}"
            f"  {'covered' if covered[k] else 'MISSED'}"
        )
    print(f"{name}: {int(covered.sum())} of {len(labels)} covered")


# --- 1. a bottleneck -----------------------------------------------------------------------------
n = args.n
sizes = np.array([1.0, 0.2, 2.0])  # now, in the bottleneck, before it
start, duration = 0.3, 0.2
truth = np.append(sizes, start)
dem = msprime.Demography()
dem.add_population(name="A", initial_size=sizes[0])
dem.add_population_parameters_change(time=start, initial_size=sizes[1], population="A")
dem.add_population_parameters_change(time=start + duration, initial_size=sizes[2], population="A")
t0 = time.time()
observed = site_spectra(dem, n, None)[1:-1]
print(
    f"bottleneck: {int(observed.sum())} sites at {args.loci} loci, n = {n} ({time.time() - t0:.1f} s)"
)

g = models.block_counting(n)
expected_sfs = Graph.moments_from_graph(g, 1, models.sfs_rewards(g, n), epochs=3)
scale = args.loci * MUTATIONS_PER_LOCUS


def bottleneck_sfs(theta):
    """Expected site counts per class for θ = (size now, in the bottleneck, before, start)."""
    rates = (1.0 / theta[:3])[:, None]  # pair coalescence rate per epoch
    starts = jnp.stack([0.0, theta[3], theta[3] + duration])
    return scale * expected_sfs(rates, starts)[0]


svgd, seconds = fit(bottleneck_sfs, observed, 4)
print(f"bottleneck: SVGD {args.iterations} iterations in {seconds:.1f} s")
report("bottleneck", svgd, truth, ["N0", "Nb", "Na", "t1"])

# --- 2. isolation with migration -----------------------------------------------------------------
n1, n2 = args.n1, args.n2
N1, N2, Na, m, split = 1.0, 0.5, 1.5, 0.5, 0.4
truth = np.array([N1, N2, Na, m, split])
dem = msprime.Demography()
dem.add_population(name="P1", initial_size=N1)
dem.add_population(name="P2", initial_size=N2)
dem.add_population(name="ANC", initial_size=Na)
dem.set_symmetric_migration_rate(["P1", "P2"], m)
dem.add_population_split(time=split, derived=["P1", "P2"], ancestral="ANC")
t0 = time.time()
observed = site_spectra(dem, {"P1": n1, "P2": n2}, [0, 1])
print(f"IM: {int(observed.sum())} sites, n = {n1} + {n2} ({time.time() - t0:.1f} s)")

t0 = time.time()
im = models.isolation_migration(n1, n2)
joint = Graph.moments_from_graph(im, 1, models.joint_sfs_rewards(im, n1, n2), epochs=2)
print(f"IM: {im.vertices_length()} states built in {time.time() - t0:.1f} s")


def im_sfs(theta):
    """Expected joint SFS (n1+1, n2+1) for θ = (N1, N2, Na, migration rate, split time)."""
    n1_, n2_, na, mig, t_split = theta
    zero = jnp.zeros(())
    rows = jnp.stack(
        [
            jnp.stack([1 / n1_, 1 / n2_, zero, mig, mig]),
            jnp.stack([1 / na, 1 / na, 1 / na, zero, zero]),
        ]
    )
    return scale * joint(rows, jnp.stack([zero, t_split]))[0].reshape(n1 + 1, n2 + 1)


svgd, seconds = fit(im_sfs, observed, 5)
print(f"IM: SVGD {args.iterations} iterations in {seconds:.1f} s")
report("IM", svgd, truth, ["N1", "N2", "Na", "m", "T"])
