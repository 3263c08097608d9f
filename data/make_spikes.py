"""Regenerate the spike trains stored in this folder (run from the repository root:
``python data/make_spikes.py``). Each CSV has one spike per row: its position, a unit vector
(x_0, x_1) of S^1 or (x_0, x_1, x_2) of S^2, then its weight w > 0, as the ``spikes`` key of a
``spike_deconvolution`` case expects.

* ``spikes_s1_fc8.csv``: Chizat's (2019) deconvolution setting on S^1 (Dirichlet kernel, fc = 8, m0 = 5
  spikes, weights uniform in (0, 1)), positions uniform conditioned on a minimum separation of
  4 pi / (2 fc + 1) = 0.739 rad, twice the first zero of D_fc (the width of its main lobe).
* ``spikes_s2_L10.csv``: S^2, m0 = 4 spikes, weights uniform in (0, 1), minimum separation 0.8 rad (the
  first zero of the degree-10 kernel sum_l (2l+1) P_l is at 0.35 rad).

Both are drawn by ``wgf.spike_train`` with ``numpy.random.default_rng(0)``.
"""

import math

import numpy as np

from wgf import spike_train

TRAINS = {
    "spikes_s1_fc8.csv": dict(m0=5, dim=1, min_separation=4 * math.pi / 17),
    "spikes_s2_L10.csv": dict(m0=4, dim=2, min_separation=0.8),
}

if __name__ == "__main__":
    for name, kw in TRAINS.items():
        nu = spike_train(weight_range=(0.0, 1.0), rng=0, **kw)
        cols = ",".join(f"x{k}" for k in range(kw["dim"] + 1)) + ",w"
        np.savetxt(f"data/{name}", np.column_stack([nu.points, nu.masses]), delimiter=",", fmt="%.17g",
                   header=f"{cols}  (wgf.spike_train({kw}, weight_range=(0, 1), rng=0); see data/make_spikes.py)")
        print(name, nu.masses)
