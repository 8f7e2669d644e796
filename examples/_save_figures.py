"""A matplotlib backend that saves every figure on ``plt.show()`` (headless runs of the examples).

Use with ``MPLBACKEND=module://_save_figures`` from this folder; figures go to
``$PHASIC_FIGURE_DIR`` (default ``figures/``) as ``figure_01.png``, ``figure_02.png``, ...
"""

import os

import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase
_count = 0


def show(*args, **kwargs):
    global _count
    folder = os.environ.get("PHASIC_FIGURE_DIR", "figures")
    os.makedirs(folder, exist_ok=True)
    for num in plt.get_fignums():
        _count += 1
        path = os.path.join(folder, f"figure_{_count:02d}.png")
        plt.figure(num).savefig(path, dpi=80)
        print(f"[figure saved to {path}]")
    plt.close("all")
