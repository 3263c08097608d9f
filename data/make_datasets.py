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


def disc_and_ring(seed: int = 0, n_disc: int = 20, n_ring: int = 28, disc: float = 0.45,
                  ring: tuple[float, float] = (0.75, 1.0)) -> np.ndarray:
    """A two-dimensional classification set: ``n_disc`` points uniform in the disc ``|x| < disc`` (label +1)
    and ``n_ring`` points uniform in the annulus ``ring[0] < |x| < ring[1]`` (label -1). No linear classifier
    separates them, and no network without a bias either (``relu(b . x)`` is positively homogeneous, so
    its sign is constant along rays from the origin, which cross both classes); with the bias feature
    ``x -> [x; 1]`` a few ReLU neurons do. Returns (n_disc + n_ring, 3): x1, x2, y."""
    rng = np.random.default_rng(seed)

    def annulus(n, r0, r1):
        r = np.sqrt(rng.uniform(r0**2, r1**2, n))       # uniform in area
        th = rng.uniform(0.0, 2.0 * np.pi, n)
        return np.column_stack([r * np.cos(th), r * np.sin(th)])

    X = np.concatenate([annulus(n_disc, 0.0, disc), annulus(n_ring, *ring)])
    y = np.concatenate([np.ones(n_disc), -np.ones(n_ring)])
    return np.column_stack([X, y])


#: Teacher with a bias for :func:`teacher_regression_2d`: rows (a_k, b_k1, b_k2, b_k0), the neuron
#: a_k relu(b_k1 x1 + b_k2 x2 + b_k0); its three kinks cross the square [-1, 1]^2.
TEACHER_BIAS_2D = np.array([[1.0, 1.0, 0.5, 0.2],
                            [1.0, -0.8, 0.6, 0.1],
                            [-1.5, 0.1, 1.0, -0.4]])


def teacher_regression_2d(seed: int = 0, n: int = 64, teacher: np.ndarray = TEACHER_BIAS_2D) -> np.ndarray:
    """A two-dimensional regression set: ``n`` inputs uniform in [-1, 1]^2 and the noiseless outputs of the
    teacher ``y(x) = sum_k a_k relu(b_k . [x; 1])``. Returns (n, 3): x1, x2, y."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    T = np.asarray(teacher, float)
    y = np.maximum(np.column_stack([X, np.ones(n)]) @ T[:, 1:].T, 0.0) @ T[:, 0]
    return np.column_stack([X, y])


if __name__ == "__main__":
    D = alternating_clusters()
    np.savetxt("data/classification_1d.csv", D, delimiter=",", fmt="%.17g",
               header="x,y  (four clusters on [-1, 1], alternating labels; numpy default_rng(0); "
                      "see data/make_datasets.py)")
    print(D.shape, D[:, 1].sum())
    D = disc_and_ring()
    np.savetxt("data/classification_2d.csv", D, delimiter=",", fmt="%.17g",
               header="x1,x2,y  (disc |x| < 0.45: +1, ring 0.75 < |x| < 1: -1; numpy default_rng(0); "
                      "see data/make_datasets.py)")
    print(D.shape, D[:, 2].sum())
    D = teacher_regression_2d()
    np.savetxt("data/regression_2d.csv", D, delimiter=",", fmt="%.17g",
               header="x1,x2,y  (uniform in [-1, 1]^2, y from the 3-neuron teacher with bias TEACHER_BIAS_2D; "
                      "numpy default_rng(0); see data/make_datasets.py)")
    np.savetxt("data/teacher_bias_2d.csv", TEACHER_BIAS_2D, delimiter=",", fmt="%.17g",
               header="a,b1,b2,b0  (the teacher of data/regression_2d.csv: y = sum_k a_k relu(b1 x1 + b2 x2 + b0); "
                      "see data/make_datasets.py)")
    print(D.shape, D[:, 2].min(), D[:, 2].max())
