"""Regenerate the data sets stored in this folder (run from the repository root:
``python data/make_datasets.py``). Each data set is a CSV with columns x_1..x_dx, y, as the ``data`` key of
an ``empirical_relu`` case expects."""

import numpy as np


def alternating_clusters(seed: int = 0, centres=(-0.75, -0.25, 0.25, 0.75), per_cluster: int = 8,
                         spread: float = 0.06) -> np.ndarray:
    """A one-dimensional classification set: ``per_cluster`` points around each centre (Gaussian, standard
    deviation ``spread``, clipped to [-1, 1]) with labels alternating +1, -1, +1, ... from left to right, so
    that no linear classifier separates them but a ReLU network with a bias does. Returns (n, 2): x, y."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, c in enumerate(centres):
        x = np.clip(c + spread * rng.standard_normal(per_cluster), -1.0, 1.0)
        rows.append(np.column_stack([x, np.full(per_cluster, 1.0 if k % 2 == 0 else -1.0)]))
    return np.concatenate(rows)


if __name__ == "__main__":
    D = alternating_clusters()
    np.savetxt("data/classification_1d.csv", D, delimiter=",", fmt="%.17g",
               header="x,y  (four clusters on [-1, 1], alternating labels; numpy default_rng(0); "
                      "see data/make_datasets.py)")
    print(D.shape, D[:, 1].sum())
