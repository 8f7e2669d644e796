"""Two ways to fit θ of the coalescent with SVGD:

1. the statistically proper likelihood of observed absorption times (density likelihood), and
2. the seed walk-through's curve fitting of noisy pdf values (Gaussian likelihood).

Both use a step size that decays to 2% of its start over the run: with a constant step the
particles never settle and their spread depends on the step (`summary()` says so).
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from phasic import SVGD, Graph  # noqa: E402


def coalescent(state, n=8):
    if not state.size:
        return [[[n], 1.0, [1.0]]]
    k = state[0]
    return [[[k - 1], 0.0, [k * (k - 1) / 2]]] if k > 1 else []


g = Graph(callback=coalescent, parameterized=True)
model = Graph.pmf_from_graph(g)
true_theta = 1.2

times = g.sample(200, rng=np.random.default_rng(1), theta=[true_theta])
fit = SVGD(
    model,
    times,
    likelihood="density",
    theta_dim=1,
    n_particles=40,
    n_iterations=400,
    learning_rate=optax.exponential_decay(0.05, 400, 0.02),
    transform="softplus",
    verbose=False,
).fit()
lo, hi = fit.credible_interval(0.95)
print(f"absorption times (n=200): mean {fit.theta_mean[0]:.3f}, 95% [{lo[0]:.3f}, {hi[0]:.3f}]")

t = jnp.linspace(0.05, 6.0, 40)
noisy = model(jnp.array([true_theta]), t) + 0.03 * np.random.default_rng(2).normal(size=40)
curve = SVGD(
    lambda th: model(th, t),
    noisy,
    theta_dim=1,
    n_particles=40,
    n_iterations=400,
    learning_rate=optax.exponential_decay(0.02, 400, 0.02),
    verbose=False,
).fit()
lo, hi = curve.credible_interval(0.95)
print(f"noisy pdf curve:          mean {curve.theta_mean[0]:.3f}, 95% [{lo[0]:.3f}, {hi[0]:.3f}]")
print(curve.summary())
