"""Bayesian inference: likelihood families, the target they compose into, and SVGD on it."""

from ._fit import SVGD
from ._likelihood_density import density_log_likelihood
from ._likelihood_gaussian import gaussian_log_likelihood
from ._likelihood_sfs import (
    fold_joint_sfs,
    fold_sfs,
    multinomial_sfs_log_likelihood,
    poisson_sfs_log_likelihood,
    segregating_sites_log_likelihood,
)
from ._nuts import NUTS
from ._posterior import ParticlePosterior
from ._stein_kernels import Kernel, imq, median_bandwidth, rbf
from ._svgd import SVGDInfo, SVGDState, make_block_runner, svgd_direction, svgd_init, svgd_step
from ._target import make_logdensity
from ._transforms import Transform

__all__ = [
    "NUTS",
    "SVGD",
    "Kernel",
    "ParticlePosterior",
    "SVGDInfo",
    "SVGDState",
    "Transform",
    "density_log_likelihood",
    "fold_joint_sfs",
    "fold_sfs",
    "gaussian_log_likelihood",
    "imq",
    "make_block_runner",
    "make_logdensity",
    "median_bandwidth",
    "multinomial_sfs_log_likelihood",
    "poisson_sfs_log_likelihood",
    "rbf",
    "segregating_sites_log_likelihood",
    "svgd_direction",
    "svgd_init",
    "svgd_step",
]
