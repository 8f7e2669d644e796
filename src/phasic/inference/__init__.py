"""Bayesian inference by Stein variational gradient descent."""

from ._fit import SVGD
from ._kernels import Kernel, imq, median_bandwidth, rbf
from ._svgd import SVGDInfo, SVGDState, make_block_runner, svgd_direction, svgd_init
from ._transforms import Transform

__all__ = [
    "SVGD",
    "Kernel",
    "SVGDInfo",
    "SVGDState",
    "Transform",
    "imq",
    "make_block_runner",
    "median_bandwidth",
    "rbf",
    "svgd_direction",
    "svgd_init",
]
