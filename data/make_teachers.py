"""Regenerate the teacher networks stored in this folder (run from the repository root:
``python data/make_teachers.py``). Each teacher is a CSV with one neuron w_k = (a_k, b_k) per row,
y(x) = sum_k a_k relu(b_k . x), as ``wgf.models.TeacherStudent`` expects."""

import numpy as np


def icm_fig2_teacher(seed: int = 3) -> np.ndarray:
    """The ICM review's Fig 2 setting (dx = 2, m0 = 4): output weights uniform in {-1, +1}, input weights
    uniform on the unit circle. The published teacher came from Julia's RNG (seed 3), which NumPy cannot
    replay; this is the same distribution drawn with NumPy's default_rng(seed)."""
    rng = np.random.default_rng(seed)
    a = rng.choice([-1.0, 1.0], size=4)
    b = rng.standard_normal((4, 2))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return np.column_stack([a, b])


def d100_teacher(seed: int = 100, m0: int = 10, dx: int = 100) -> np.ndarray:
    """The ICM review's Fig 3 setting (dx = 100, m0 = 10): output weights uniform in {-1, +1}, input
    weights uniform on the unit sphere S^{dx-1}, drawn with NumPy's default_rng(seed)."""
    rng = np.random.default_rng(seed)
    a = rng.choice([-1.0, 1.0], size=m0)
    b = rng.standard_normal((m0, dx))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return np.column_stack([a, b])


if __name__ == "__main__":
    w = icm_fig2_teacher()
    np.savetxt("data/teacher_fig2.csv", w, delimiter=",", fmt="%.17g",
               header="a,b1,b2  (ICM review Fig 2 setting, numpy default_rng(3); see data/make_teachers.py)")
    print(w)
    w = d100_teacher()
    np.savetxt("data/teacher_d100.csv", w, delimiter=",", fmt="%.17g",
               header="a,b1..b100  (dx = 100, m0 = 10, numpy default_rng(100); see data/make_teachers.py)")
    print(w.shape, w[:, 0])
