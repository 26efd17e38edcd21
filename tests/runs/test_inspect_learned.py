"""`divergent inspect` on runs in a learned space, and the archive replay
(runs/learned.py, runs/learned_plots.py, runs/replay.py, representation.npz
written by runs/loop.py and read by runs/load.py)."""
from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import runs
from runs import config as C
from runs import inspect as run_inspect
from runs import learned, loop, rundir
from runs.errors import RunDirError
from tests.runs import toy
from tests.runs.run_fixtures import write_run
from tests.runs.test_inspect import assert_real_image, render

# A TAXONS run small enough for a test: 20 generations of 16 episodes of 40
# steps, refits after generations 1, 3, 6, 10 and 15 of two epochs each.
AE_SETS = ("representation=autoencoder", "rep.width=4", "rep.latent_size=3", "rep.max_epochs=2",
           "task.episode_length=40", "algo.population_size=8", "algo.k=3", "algo.selection=novelty_or_surprise")
LEARNED_PLOTS = {"time_coverage.png", "latent.png", "reconstructions.png", "surprise.png"}


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    config = C.build("ns", "curling", budget=320, out=str(tmp_path_factory.mktemp("ae") / "run"), sets=AE_SETS)
    loop.start(config)
    return config


def test_a_learned_run_saves_its_weights_and_load_restores_them(ae_run):
    from tasks.rollout import rollout

    run = runs.load(ae_run.out)
    assert (run.path / rundir.REPRESENTATION).is_file()
    assert str(run.representation["name"]) == "autoencoder"
    assert int(run.representation["fits"]) == int(run.metrics["representation_fits"].iloc[-1]) == 5
    assert "params/params/encoder_convs_0/Dense_0/kernel" in run.representation
    params = run.representation_params()
    representation = run.config.make_pipeline().representation
    # The saved weights and a replay of the archive give back the archived descriptors.
    replayed = rollout(run.config.make_task(), run.archive["genome"], jax.random.PRNGKey(0), with_observation=True)
    features = representation.features(replayed)
    np.testing.assert_allclose(representation.encode(params, features), run.archive["descriptor"], atol=1e-4)
    np.testing.assert_allclose(replayed.descriptor, run.archive["gt_descriptor"], atol=1e-5)
    # Weights of other settings are refused, naming the leaf.
    other = C.build("ns", "curling", budget=320, sets=(*AE_SETS, "rep.width=8")).make_pipeline().representation
    refused = r"convs_0/Dense_0/bias' has shape \(\d+,\), but autoencoder with .*width=8.* expects \(\d+,\)"
    with pytest.raises(RunDirError, match=refused):
        learned.restore_params(other, run.representation)


def test_inspect_draws_the_learned_space_and_the_time_coverage(ae_run):
    summary = run_inspect.inspect_run(ae_run.out)
    names = {p.name for p in summary.plots}
    assert LEARNED_PLOTS <= names and "coverage.png" in names
    for path in summary.plots:
        if path.name in LEARNED_PLOTS:
            assert path.stat().st_size > 20_000, path
            assert_real_image(path)
    assert summary.notes == ()
    assert (summary.representation, summary.representation_fits) == ("autoencoder", 5)
    # Curling's descriptor is the final position: the last time point is the archive's coverage.
    assert summary.time_points == 40  # 50 points over 40 steps: every step once
    assert summary.time_coverage == pytest.approx(summary.coverage)
    assert 0 < summary.time_coverage_mean <= summary.time_coverage
    text = render(run_inspect.format_summary(summary))
    assert f"final {100 * summary.time_coverage:.1f}%, mean over the episode" in text
    assert "autoencoder, 5 refits" in text


def test_refits_are_marked_on_the_coverage_curves(ae_run):
    config, metrics, archive = run_inspect.read_run(ae_run.out)
    refits = learned.refit_moments(metrics, "evaluations")
    assert len(refits) == 5
    spec = C.from_dict(config).make_task().spec
    figures = dict(run_inspect.run_figures(spec, config, metrics, archive))
    assert "latent.png" in figures and "surprise.png" in figures
    assert "time_coverage.png" not in figures and "reconstructions.png" not in figures  # need a replay
    coverage = figures["coverage.png"].axes[0]
    vertical = [line for line in coverage.get_lines() if np.ptp(line.get_xdata()) == 0]
    assert sorted(float(line.get_xdata()[0]) for line in vertical) == sorted(refits.tolist())
    assert "refit (5)" in [t.get_text() for t in coverage.get_legend().get_texts()]


def test_refit_moments_are_where_the_fit_count_rises():
    metrics = pd.DataFrame({"evaluations": [10, 20, 30, 40, 50], "representation_fits": [1, 1, 3, 3, 4]})
    np.testing.assert_array_equal(learned.refit_moments(metrics, "evaluations"), [10, 30, 50])
    assert learned.refit_moments(metrics.drop(columns="representation_fits"), "evaluations").size == 0


def test_latent_projection_is_pca_above_two_dimensions():
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(50, 2)) @ np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 0.5]])
    points, labels = learned.latent_2d(flat)
    assert points.shape == (50, 2) and labels[0].startswith("PC1") and "variance" in labels[1]
    # Two components explain a rank-2 cloud: distances are kept.
    d = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(points), d(flat), atol=1e-8)
    same, labels = learned.latent_2d(flat[:, :2])
    np.testing.assert_array_equal(same, flat[:, :2])
    assert labels == ("descriptor 1", "descriptor 2")


def test_a_ground_truth_run_gets_the_time_coverage_but_no_learned_plots(tmp_path):
    config = C.build(toy.PLAIN, toy.TASK, budget=32, out=str(tmp_path / "plain"), sets=["algo.poison=true"])
    loop.start(config)
    assert not (tmp_path / "plain" / rundir.REPRESENTATION).exists()  # the ground truth has no parameters
    assert runs.load(config.out).representation == {}
    summary = run_inspect.inspect_run(config.out)
    names = {p.name for p in summary.plots}
    assert "time_coverage.png" in names and not names & (LEARNED_PLOTS - {"time_coverage.png"})
    assert summary.time_coverage == pytest.approx(summary.coverage)
    assert summary.time_points == 5
    assert "representation" not in render(run_inspect.format_summary(summary))


def test_an_empty_archive_skips_the_time_coverage_with_a_note(tmp_path):
    run = tmp_path / "run"
    write_run(run, generation=False, config={"representation": "autoencoder"})
    np.savez(run / "archive.npz", genome=np.zeros((0, 5), np.float32), descriptor=np.zeros((0, 3), np.float32),
             gt_descriptor=np.zeros((0, 2), np.float32), reward=np.zeros(0, np.float32),
             reward_area=np.zeros(0, np.int32))
    from tests.runs.run_fixtures import tiny_spec

    summary = run_inspect.inspect_run(run, spec=tiny_spec())
    assert "no time coverage: the archive is empty" in summary.notes
    assert summary.time_coverage is None
    assert not {p.name for p in summary.plots} & LEARNED_PLOTS


def test_the_replay_records_100_times_where_the_task_config_allows():
    from runs import replay

    hardmaze = C.build("ns", "hardmaze", budget=1000, sets=["task.episode_length=300"])
    assert replay.replay_task(hardmaze).spec.trajectory_points == replay.TIME_POINTS == 100
    assert len(replay.replay_task(hardmaze).spec.trajectory_steps) == 100
    curling = C.build("ns", "curling", budget=1000)  # no such field: the task's default
    assert replay.replay_task(curling).spec == curling.make_task().spec
