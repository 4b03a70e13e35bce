"""Fits as data: extra residual terms that fit() honours, custom stages, options checked once."""

from __future__ import annotations

import numpy as np
import pytest

import facefit as ff
from facefit.backends import array_namespace, to_numpy
from facefit.fit import FitOptions, FitProblem, Stage, default_stages
from facefit.fit.terms import assemble_jacobian
from facefit.params import FaceParams
from facefit.render import render

from .synthetic import make_model

MODEL = make_model(n=15)
SIZE = (72, 72)


def _scene():
    params = FaceParams.framing(MODEL, SIZE).for_model(MODEL)
    params.rotation = np.array([0.1, 0.2, 0.0])
    rendered = render(MODEL, params, SIZE).to_numpy()
    return params, rendered["image"], rendered["landmarks"]


class TranslationPull:
    """A user term in its own module would look like this: ``sqrt(w) (t - target)``."""

    name = "translation pull"

    def __init__(self, problem: FitProblem, target, weight: float):
        self.layout = problem.layout
        self.target = problem.backend.asarray(np.asarray(target, dtype=np.float64))
        self.weight = weight

    def update(self, x):
        return None

    def residuals(self, x):
        return self.weight ** 0.5 * (x[self.layout.translation] - self.target)

    def jacobian(self, x):
        xp = array_namespace(x)
        eye = xp.eye(2, dtype=x.dtype, device=x.device) * self.weight ** 0.5
        return assemble_jacobian(self.layout, 2, {"translation": eye}, like=x)


@pytest.mark.parametrize("photometric", [True, False])
def test_fit_honours_an_extra_term(backend64, photometric):
    params, image, landmarks = _scene()
    plain = ff.fit(image, landmarks, MODEL, photometric=photometric, max_iterations=5)
    target = params.translation + np.array([6.0, -4.0])
    pulled = ff.fit(image, landmarks, MODEL, photometric=photometric, max_iterations=5,
                    terms=[lambda problem: TranslationPull(problem, target, 50.0)])
    names = [t.name for t in pulled.problem.terms]
    assert names[-1] == "translation pull"
    before = np.linalg.norm(plain.params.translation - target)
    after = np.linalg.norm(pulled.params.translation - target)
    assert after < 0.5 * before, (before, after)
    # Its analytic Jacobian agrees with the automatic strategies like every built-in term's.
    term = pulled.problem.terms[-1]
    x = backend64.asarray(pulled.x)
    for strategy in backend64.jacobian_strategies:
        np.testing.assert_allclose(to_numpy(term.jacobian(x)),
                                   to_numpy(backend64.jacobian(term.residuals, x, strategy)),
                                   atol=1e-10)


def test_custom_stages_run_as_given():
    _, image, landmarks = _scene()
    pose_only = Stage("pose", ("landmarks",), ("rotation", "scale", "translation"), rounds=1)
    result = ff.fit(image, landmarks, MODEL, stages=[pose_only])
    assert {entry["stage"] for entry in result.history} == {"pose/0"}
    assert not np.any(result.params.identity) and not np.any(result.params.albedo)
    default = [s.name for s in default_stages()]
    assert default == ["pose", "shape", "photometric"]


def test_bad_schedules_and_options_name_the_problem():
    _, image, landmarks = _scene()
    with pytest.raises(ff.FitError, match="free blocks must be among"):
        Stage("bad", None, ("nose",), 1)
    with pytest.raises(ff.FitError, match="rounds must be a positive integer"):
        Stage("bad", None, ("scale",), 0)
    with pytest.raises(ff.FitError, match="names terms the problem does not have: glasses"):
        ff.fit(image, landmarks, MODEL, stages=[Stage("s", ("glasses",), ("scale",), 1)])
    with pytest.raises(ff.FitError, match="rounds must be a positive integer"):
        FitOptions(rounds=0)
    with pytest.raises(ff.FitError, match="max_iterations"):
        FitOptions(max_iterations=-2)
    with pytest.raises(ff.FitError, match="not a residual term"):
        FitProblem(image, landmarks, MODEL, terms=[lambda problem: 42])
    with pytest.raises(ff.FitError, match="already has a term named 'prior'"):
        FitProblem(image, landmarks, MODEL, terms=[lambda problem: problem.prior_term])


def test_options_object_is_the_same_fit_as_keywords():
    _, image, landmarks = _scene()
    by_keywords = ff.fit(image, landmarks, MODEL, rounds=2, max_iterations=4)
    by_options = ff.fit(image, landmarks, MODEL, options=FitOptions(rounds=2, max_iterations=4))
    assert by_keywords.x.tobytes() == by_options.x.tobytes()
