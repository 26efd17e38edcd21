"""Inspecting a run directory: plots into ``DIR/plots/`` and a summary.

    summary = inspect_run("runs_out/hardmaze-ns-s0")
    rich.print(format_summary(summary))           # what `divergent inspect DIR` prints

Reads only the plain files of docs/architecture.md (config.yaml, metrics.csv,
archive.npz, and extras.npz / representation.npz when the run saved them), so
it works on any finished run, also one copied off a cluster, and tolerates
metrics it does not know: it plots the columns that are there.

With `replay` (the default when drawing), the archive's genomes are rolled
out again on the run's task (`runs.replay`) for the time coverage (coverage
of the grid by the archive's positions at each of ~100 times of the episode)
and, for the autoencoder, the final views that `reconstructions.png` shows.
Runs in a learned space (config.yaml's ``representation`` is not
``ground_truth``) also get `latent.png`, `surprise.png` (when the metrics
log ``mean_surprise``) and their refits marked on `coverage.png`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd
import yaml
from rich.markup import escape
from rich.table import Table

from rich.console import Group, RenderableType

from runs import extras as run_extras
from runs import extras_plots, learned, learned_plots, plots
from runs.errors import RunDirError
from runs.load import read_metrics
from runs.rundir import RunDir, group_extras, read_text
from runs.typed import shorten, show
from runs.summary import (
    AreaSummary,
    Summary,
    area_summaries,
    fallback_spec,
    grid_shape_of,
    grid_values,
    last_value,
    spec_from_config,
    truthy,
)

__all__ = ["PLOT_FILES", "AreaSummary", "Summary", "format_emitters", "format_payoff", "format_summary", "inspect_run", "read_extras",
           "read_run", "run_figures"]

# Why each file may be missing, for the error message ({dir} is the run directory).
MISSING = {
    "config.yaml": "not a run directory (a run writes its config before anything else)",
    "metrics.csv": "the run has not logged a generation yet; `divergent resume {dir}`",
    "archive.npz": "the run has not finished; `divergent resume {dir}`",
}
# Legend names of the coverage columns qd.tracker logs.
COVERAGE_NAMES = {"coverage": "archive", "explored_coverage": "all evaluated"}
PLOT_FILES = ("archive_reward.png", "archive_generation.png", "coverage.png", "rewards.png",
              "coverage_cells.png", "grid_heatmap.png", "reward_archive.png", "emitters.png",
              "exploitation.png",
              "time_coverage.png", "latent.png", "reconstructions.png", "surprise.png")
# Archived views shown with their reconstructions (spread over the archive).
RECONSTRUCTIONS = 8


def read_run(run_dir: str | Path) -> tuple[dict, pd.DataFrame, dict[str, np.ndarray]]:
    """The config, metrics and final archive of a run directory.

    Args:
        run_dir: the run directory.

    Returns:
        (config mapping, metrics DataFrame (possibly without rows), archive
        arrays by name).

    Raises:
        RunDirError: the directory or one of its files is missing or unreadable;
            the message names the file and the directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist" if not run_dir.exists()
                          else f"{run_dir} is a file, not a run directory")
    for name, why in MISSING.items():
        if not (run_dir / name).is_file():
            raise RunDirError(f"no {name} in {run_dir}: {why.format(dir=run_dir)}")
    try:
        config = yaml.safe_load(read_text(run_dir / "config.yaml", RunDirError))
    except yaml.YAMLError as error:
        raise RunDirError(f"config.yaml in {run_dir} is not valid YAML: {shorten(str(error))}") from None
    if not isinstance(config, Mapping):
        raise RunDirError(f"config.yaml in {run_dir} must be a YAML mapping, got {type(config).__name__}")
    metrics = read_metrics(run_dir / "metrics.csv")
    archive = RunDir(run_dir).read_archive()
    for key in ("gt_descriptor", "reward"):
        if key not in archive:
            raise RunDirError(f"archive.npz in {run_dir} has no {key!r} array (it has {', '.join(archive) or 'none'})")
    return dict(config), metrics, _filled(archive)


def read_extras(run_dir: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """extras.npz of a run directory by group, then column ({} when absent:
    an algorithm without extras).

    Raises:
        RunDirError: extras.npz exists but cannot be read.
    """
    return group_extras(RunDir(Path(run_dir)).read_extras())


def inspect_run(
    run_dir: str | Path,
    *,
    spec: Any = None,
    start: Optional[tuple[float, float]] = None,
    draw: bool = True,
    replay: Optional[bool] = None,
) -> Summary:
    """Writes the plots of a run into ``run_dir/plots/`` and summarises it.

    Plots: ``archive_reward.png`` (the archive on the task's map, coloured by
    reward), ``archive_generation.png`` (by generation added; when the archive
    records it), ``coverage.png`` (coverage and archive size over
    evaluations), ``rewards.png`` (max reward per area over evaluations),
    ``coverage_cells.png`` (cells of the coverage grid hit by the archive),
    ``grid_heatmap.png`` (grid archives only) and, for runs whose extras.npz
    has them (SERENE), ``reward_archive.png`` (the reward archive on the map,
    with a zoom on each reward area) and ``emitters.png`` (each emitter's
    lifetime and outcome, and the budget split between exploration and the
    exploitation of each area) and, when the metrics have the per-phase best
    rewards, ``exploitation.png`` (per area, the evaluations its emitters
    spent against the best reward they and exploration reached). Replaying the archive adds
    ``time_coverage.png`` (coverage at each time of the episode); runs in a
    learned space add ``latent.png`` (the archive in the representation's
    space, PCA to 2-D, coloured by final x, final y and reward),
    ``reconstructions.png`` (the autoencoder's: archived final views and
    their reconstructions) and ``surprise.png`` (``mean_surprise``, when
    logged), and mark their refits on ``coverage.png``.

    Args:
        run_dir: the run directory.
        spec: the task's `TaskSpec` (or any object with its attributes);
            default: built from config.yaml with `tasks.make`.
        start: world (x, y) of the start to mark on the maps; default: the
            task's, when the task is built here.
        draw: write the plots (~0.5 s each); False only summarises.
        replay: roll the archive out again for the time coverage and the
            views to reconstruct (one batched rollout of the archive, i.e. a
            few generations' worth of evaluations); default: `draw`.

    Returns:
        The summary.

    Raises:
        RunDirError: a missing or unreadable file (see `read_run`).
    """
    run_dir = Path(run_dir)
    config, metrics, archive = read_run(run_dir)
    extras = read_extras(run_dir)
    notes: list[str] = []
    problem = None
    if spec is None:
        spec, task_start, problem = spec_from_config(config)
        start = start if start is not None else task_start
        if problem:
            notes.append(f"maps without walls or reward areas: {problem}")
            spec = fallback_spec(archive["gt_descriptor"])
    if metrics.empty:
        notes.append("metrics.csv has no rows yet")
    if _x_column(metrics) is None and not metrics.empty:
        notes.append("metrics.csv has neither 'evaluations' nor 'generation'; no curves")
    replayed, reconstructions = None, None
    if draw if replay is None else replay:
        replayed, reconstructions = _replay(run_dir, config, archive, notes, draw=draw,
                                            task_built=problem is None)
    paths = []
    if draw:
        for name, fig in run_figures(spec, config, metrics, archive, start, extras=extras, replayed=replayed,
                                     reconstructions=reconstructions):
            paths.append(plots.save(fig, run_dir / "plots" / name))
    coverage = last_value(metrics, "coverage")
    if coverage is None:  # not logged: the final archive's, as qd.metrics.coverage computes it
        counts = plots.cell_counts(plots.as_points(archive["gt_descriptor"])[:, :2], spec.descriptor_low[:2],
                                   spec.descriptor_high[:2], tuple(getattr(spec, "grid_shape", (50, 50))))
        coverage = float((counts > 0).mean())
    return Summary(
        run_dir=run_dir,
        algorithm=_name(config.get("algorithm")),
        task=_name(config.get("task")),
        seed=_int_or_none(config.get("seed")),
        budget=_budget(config.get("budget")),
        evaluations=int(last_value(metrics, "evaluations") or 0),
        generations=int(last_value(metrics, "generation") if "generation" in metrics else len(metrics)),
        wall_time=last_value(metrics, "wall_time"),
        coverage=coverage,
        explored_coverage=last_value(metrics, "explored_coverage"),
        archive_size=len(archive["reward"]),
        areas=area_summaries(spec, metrics, archive, _x_column(metrics)),
        plots=tuple(paths),
        notes=tuple(notes),
        emitters=run_extras.emitter_summaries(extras, metrics, len(getattr(spec, "reward_areas", ()))),
        emitter_counters=run_extras.emitter_counters(metrics),
        payoff=run_extras.payoff_rows(
            run_extras.exploitation_payoff(metrics, len(getattr(spec, "reward_areas", ())))),
        reward_archive_size=_reward_archive_size(extras),
        representation=_name(config.get("representation", "ground_truth")),
        representation_fits=_int_or_none(last_value(metrics, learned.FITS_COLUMN)),
        time_coverage=float(replayed.time_coverage[-1]) if replayed is not None else None,
        time_coverage_mean=float(np.mean(replayed.time_coverage)) if replayed is not None else None,
        time_points=len(replayed.time_coverage) if replayed is not None else None,
    )


def _replay(run_dir: Path, config: Mapping, archive: Mapping[str, np.ndarray], notes: list[str], *, draw: bool,
            task_built: bool = True):
    """Replays the archive (`runs.replay`): (Replay or None, (views,
    reconstructions, errors, archive rows) or None); why not, in `notes`
    (`task_built`: False when a note already says the task cannot be built)."""
    if not len(archive["reward"]):
        notes.append("no time coverage: the archive is empty")
        return None, None
    if "genome" not in archive:
        notes.append("no time coverage: archive.npz has no genomes to replay")
        return None, None
    if archive["genome"].ndim == 2 and archive["genome"].shape[1] == 0:
        notes.append("no time coverage: the archive holds training episodes, not genomes (an RL run)")
        return None, None
    if not task_built:  # already noted: no task, nothing to replay on
        return None, None
    from runs.config import from_dict

    try:
        run_config = from_dict(config, str(run_dir / "config.yaml"))
    except Exception as error:  # the maps and curves are still worth drawing
        notes.append(f"no time coverage: cannot rebuild the run's config ({shorten(str(error))})")
        return None, None
    from runs import replay as run_replay

    params, representation = None, None
    if draw and run_config.representation == "autoencoder":
        saved = RunDir(run_dir).read_representation()
        if not saved:
            notes.append("no reconstructions: the run saved no representation.npz (written by newer versions)")
        else:
            try:
                representation = run_config.make_pipeline().representation
                params = learned.restore_params(representation, saved)
            except Exception as error:
                notes.append(f"no reconstructions: {shorten(str(error))}")
                representation = None
    gt = archive["gt_descriptor"]
    rows = learned.spread_rows(gt, RECONSTRUCTIONS) if representation is not None else None
    try:
        frames = representation.observation_frames if representation is not None else 1
        replayed = run_replay.replay_archive(run_config, archive["genome"], gt, view_rows=rows, frames=frames)
    except Exception as error:
        notes.append(f"no time coverage: replaying the archive failed ({type(error).__name__}: "
                     f"{shorten(str(error))})")
        return None, None
    if replayed.mismatched:
        notes.append(f"{replayed.mismatched:,} of {len(gt):,} replayed policies end elsewhere than archived "
                     "(a task with a random start?): the time coverage is of the replays")
    invalid = int(np.sum(~replayed.valid))
    if invalid:
        notes.append(f"{invalid:,} replayed policies produced NaN/inf and are left out of the time coverage")
    reconstructions = None
    if representation is not None and replayed.views is not None and len(replayed.views):
        out, errors = learned.reconstruct(representation, params, replayed.views)
        reconstructions = (replayed.views, out, errors, rows)
    return replayed, reconstructions


def _position_labels(spec, gt: np.ndarray) -> list[str]:
    """"(x, y)": the final position in world coordinates, one per row of `gt`."""
    if not len(gt):
        return []
    span = float(np.max(np.subtract(spec.world_high, spec.world_low)))
    decimals = int(np.clip(2 - np.floor(np.log10(span)), 0, 6)) if span > 0 else 2  # 2.7 -> 2, 600 -> 0
    return [f"({x:.{decimals}f}, {y:.{decimals}f})" for x, y in plots.descriptor_to_world(spec, gt)]


def _reward_archive_size(extras: Mapping[str, Mapping[str, np.ndarray]]) -> Optional[int]:
    group = extras.get(run_extras.REWARD_ARCHIVE)
    return len(group["reward"]) if group and "reward" in group else None


def run_figures(spec: Any, config: Mapping, metrics: pd.DataFrame, archive: Mapping[str, np.ndarray],
                start: Optional[tuple[float, float]] = None, *,
                extras: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                replayed=None, reconstructions=None):
    """The figures of a run, unsaved (for notebooks; `inspect_run` saves them).

    Args:
        spec: the task's spec.
        config: config.yaml's mapping.
        metrics: metrics.csv.
        archive: archive.npz's arrays.
        start: world (x, y) of the start, or None.
        extras: extras.npz by group (`read_extras`), or None.
        replayed: the archive's `runs.replay.Replay`, for time_coverage.png.
        reconstructions: (views, reconstructions, errors, archive rows)
            for reconstructions.png.

    Yields:
        (file name, Figure) pairs, in the order of `PLOT_FILES`, for the plots
        this run's data allows.
    """
    x = _x_column(metrics)
    gt, reward = archive["gt_descriptor"], archive["reward"].astype(np.float64)
    area = archive.get("reward_area", np.full(len(reward), -1))
    sparse = bool(np.all((reward >= 0) & (reward <= 1)))  # the (r - d) / r rewards of every task
    yield "archive_reward.png", plots.plot_archive_map(
        spec, gt, reward, colour_label="reward", start=start,
        muted=(reward == 0) & (area < 0), muted_label="no reward",
        vmin=0.0 if sparse else None, vmax=1.0 if sparse else None,
        title=f"final archive: {len(reward)} policies")
    if "generation" in archive:
        yield "archive_generation.png", plots.plot_archive_map(
            spec, gt, archive["generation"], colour_label="generation added", cmap="cividis", start=start,
            title="final archive by age")
    in_learned_space = learned.is_learned_space(config)
    refits = learned.refit_moments(metrics, x) if in_learned_space else np.zeros(0)
    if x is not None:
        yield "coverage.png", _coverage_figure(spec, metrics, x, refits)
        yield "rewards.png", _rewards_figure(spec, metrics, x)
    yield "coverage_cells.png", plots.plot_coverage_grid(spec, gt, start=start)
    shape = grid_shape_of(config, archive, spec)
    if shape:
        values, (low, high), same_as_gt = grid_values(spec, archive, shape)
        yield "grid_heatmap.png", plots.plot_grid_heatmap(
            values, (low, high), colour_label="best reward in cell",
            vmin=0.0 if sparse else None, vmax=1.0 if sparse else None,
            y_down=same_as_gt and getattr(spec, "image_y_down", False))
    yield from _extras_figures(spec, metrics, archive, start, extras or {})
    if replayed is not None:
        yield "time_coverage.png", learned_plots.plot_time_coverage(
            replayed.steps, replayed.time_coverage, episode_length=replayed.episode_length,
            grid_shape=tuple(getattr(spec, "grid_shape", (50, 50))), archive_size=len(reward))
    if in_learned_space and "descriptor" in archive and len(reward):
        points, labels = learned.latent_2d(archive["descriptor"])
        yield "latent.png", learned_plots.plot_latent(
            points, labels, plots.descriptor_to_world(spec, gt), reward,
            units=plots.UNITS.get(getattr(spec, "name", ""), "world units"),
            representation=_name(config.get("representation")), sparse=sparse)
    if reconstructions is not None:
        views, out, errors, rows = reconstructions
        yield "reconstructions.png", learned_plots.plot_reconstructions(
            views, out, errors, labels=_position_labels(spec, gt[rows]))
    if in_learned_space and x is not None and "mean_surprise" in metrics:
        yield "surprise.png", learned_plots.plot_surprise(metrics, x, refits)


def _extras_figures(spec, metrics: pd.DataFrame, archive: Mapping[str, np.ndarray], start, extras: Mapping):
    """reward_archive.png, emitters.png and exploitation.png, for the extras
    groups and metrics a run has."""
    rewarded = extras.get(run_extras.REWARD_ARCHIVE) or {}
    if "gt_descriptor" in rewarded and "reward" in rewarded:
        reward = np.asarray(rewarded["reward"], np.float64)
        sparse = bool(np.all((reward >= 0) & (reward <= 1)))
        yield "reward_archive.png", extras_plots.plot_reward_archive(
            spec, rewarded["gt_descriptor"], reward, context=archive["gt_descriptor"], start=start,
            vmin=0.0 if sparse else None, vmax=1.0 if sparse else None)
    emitters = run_extras.emitter_columns(extras)
    if emitters is not None:
        split = run_extras.budget_split(metrics, len(getattr(spec, "reward_areas", ())))
        yield "emitters.png", extras_plots.plot_emitter_history(
            emitters, split, evaluations=last_value(metrics, "evaluations"))
    payoff = run_extras.exploitation_payoff(metrics, len(getattr(spec, "reward_areas", ())))
    if payoff is not None:
        yield "exploitation.png", extras_plots.plot_exploitation_payoff(
            payoff, evaluations=last_value(metrics, "evaluations"))


def _x_column(metrics: pd.DataFrame) -> Optional[str]:
    """The column that counts progress: evaluations, else generations."""
    return next((c for c in ("evaluations", "generation") if c in metrics and len(metrics)), None)


def _coverage_figure(spec, metrics: pd.DataFrame, x: str, refits=()):
    """Coverage column(s) and, beside them, the archive size; the refits of a
    learned representation as vertical lines on both."""
    fig, (left, right) = plots.panels(2)
    covers = [c for c in metrics.columns if c == "coverage" or c.endswith("_coverage")]
    rows, cols = tuple(getattr(spec, "grid_shape", (50, 50)))
    plots.plot_curves(metrics, covers or ["coverage"], x=x, ax=left, percent=True,
                      ylabel=f"coverage ({rows}×{cols} cells)", title="coverage",
                      column_labels={c: COVERAGE_NAMES.get(c, c.removesuffix("_coverage")) for c in covers})
    plots.plot_curves(metrics, ["archive_size"], x=x, ax=right, ylabel="policies", title="archive size")
    learned_plots.mark_refits(left, refits)
    learned_plots.mark_refits(right, refits, legend=False)
    return fig


def _rewards_figure(spec, metrics: pd.DataFrame, x: str):
    """Best reward per area over evaluations, drawn from when the area is found."""
    pattern = re.compile(r"area(\d+)_max_reward$")
    columns = sorted((c for c in metrics.columns if pattern.match(c)), key=lambda c: int(pattern.match(c)[1]))
    metrics = metrics.copy()
    for c in columns:  # qd.tracker logs 0 until found: a gap, not a flat line at 0
        found = f"area{pattern.match(c)[1]}_found"
        if found in metrics:
            metrics[c] = metrics[c].where(truthy(metrics[found]), np.nan)
    values = metrics[columns].to_numpy(np.float64) if columns else np.zeros(0)
    finite = values[np.isfinite(values)]
    in_unit = finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)
    names = {c: f"area {pattern.match(c)[1]}" + ("" if np.isfinite(metrics[c].to_numpy(np.float64)).any()
                                                  else " (not found)") for c in columns}
    fig = plots.plot_curves(metrics, columns or ["area0_max_reward"], x=x, ylabel="max reward",
                            column_labels=names, ylim=(0.0, 1.05) if in_unit else None, mark_first=True, steps=True,
                            title="best reward per area")
    if len(columns) == 1:  # a lone area has no legend: name it in the title
        fig.axes[0].set_title(f"best reward in {names[columns[0]]}")
    return fig


def format_summary(summary: Summary) -> RenderableType:
    """The summary for the terminal: a rich table, followed by the emitter
    table (`format_emitters`) of a run that saved an emitter history.

    Args:
        summary: from `inspect_run`.

    Returns:
        A rich renderable (print it with ``rich.print`` or a ``Console``).
    """
    s = summary
    title = f"{s.algorithm} on {s.task}" + (f", seed {s.seed}" if s.seed is not None else "")
    table = Table(title=escape(title), caption=escape(f"{len(s.plots)} plots in {s.run_dir / 'plots'}"),
                  show_header=False,
                  title_style="bold", caption_justify="left")
    table.add_column(style="cyan", no_wrap=True)
    table.add_column()
    budget = f" of {s.budget:,}" if s.budget else ""
    table.add_row("evaluations", f"{s.evaluations:,}{budget}")
    table.add_row("generations", f"{s.generations:,}")
    if s.wall_time is not None:
        table.add_row("wall time", _duration(s.wall_time))
    explored = f", all evaluated {100 * s.explored_coverage:.1f}%" if s.explored_coverage is not None else ""
    table.add_row("coverage", f"archive {100 * s.coverage:.1f}%{explored}")
    if s.time_coverage is not None:
        table.add_row("time coverage", f"final {100 * s.time_coverage:.1f}%, mean over the episode "
                                       f"{100 * s.time_coverage_mean:.1f}% ({s.time_points} times)")
    if s.representation not in ("ground_truth", "?"):
        fits = f", {s.representation_fits:,} refits" if s.representation_fits is not None else ""
        table.add_row("representation", f"{escape(s.representation)}{fits}")
    table.add_row("archive size", f"{s.archive_size:,}", end_section=s.reward_archive_size is None)
    if s.reward_archive_size is not None:
        table.add_row("reward archive", f"{s.reward_archive_size:,} rewarded agents", end_section=True)
    for a in s.areas:
        where = f" ({a.center[0]:.3g}, {a.center[1]:.3g}) r {a.radius:.3g}" if a.center is not None else ""
        if a.found:
            parts = [f"[green]found[/] after {a.first_found:,} evaluations" if a.first_found is not None
                     else "[green]found[/]"]
            if a.max_reward is not None:
                parts.append(f"max reward {a.max_reward:.3f}")
        else:
            parts = ["[red]not found[/]"]
        if a.evaluations is not None:
            parts.append(f"{a.evaluations:,} evaluations ended in it")
        parts.append(f"{a.in_archive:,} in archive")
        table.add_row(f"area {a.index}{where}", ", ".join(parts))
    for note in s.notes:
        table.add_row("[yellow]note[/]", escape(note))
    more = [t for t in (format_emitters(s), format_payoff(s)) if t is not None]
    return Group(table, *more)


def format_emitters(summary: Summary) -> Optional[Table]:
    """The emitters per reward area (`runs.extras.EmitterAreaSummary`) as a
    rich table with one column per area (then "no area" when some emitter's
    ancestor was in none, and "all"), None when the run saved no emitter
    history.

    Rows: emitters (judged or still running), promoted (passed their
    bootstrap), of which stagnated and running, discarded, evaluations spent
    exploiting the area (and their share of the run), the best reward its
    emitters reached, and the mean improvement of its promoted emitters.
    """
    columns = summary.emitters
    if not columns:
        return None
    table = Table(title="emitters by reward area", title_style="bold", caption_justify="left",
                  caption=escape(_emitter_caption(summary.emitter_counters, summary.evaluations)) or None)
    table.add_column("", style="cyan", no_wrap=True)
    for c in columns:
        name = "all" if c.area is None else ("no area" if c.area < 0 else f"area {c.area}")
        table.add_column(name, justify="right", no_wrap=True, style="bold" if c.area is None else None)

    def share(n: int) -> str:
        return f"{n:,} ({100 * n / summary.evaluations:.1f}%)" if summary.evaluations else f"{n:,}"

    rows = [
        ("emitters", lambda c: f"{c.created:,}"),
        ("promoted", lambda c: f"{c.promoted:,}"),
        ("  stagnated", lambda c: f"{c.stagnated:,}"),
        ("  running", lambda c: f"{c.running:,}"),
        ("discarded", lambda c: f"{c.discarded:,}"),
        ("evaluations", lambda c: share(c.evaluations)),
        ("best reward", lambda c: f"{c.best_reward:.3f}" if c.best_reward is not None else "-"),
        ("mean improvement", lambda c: f"{c.mean_improvement:.3g}" if c.mean_improvement is not None else "-"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(c) for c in columns))
    return table


def format_payoff(summary: Summary) -> Optional[Table]:
    """Whether the emitters pay off (`runs.extras.payoff_rows`): per reward
    area, at a quarter, half, three quarters and the end of the run, the
    evaluations its emitters had spent and the best reward they and
    exploration had reached; None when the run logged no per-phase rewards."""
    if not summary.payoff:
        return None
    table = Table(title="exploitation budget against reward", title_style="bold", caption_justify="left",
                  caption="at: run evaluations; spent: evaluations of the area's emitters so far; best reward "
                          "reached in the area by the emitters and by exploration; lead: their difference")
    for name in ("area", "at", "spent", "emitters", "exploration", "lead"):
        table.add_column(name, justify="left" if name == "area" else "right", no_wrap=True,
                         style="cyan" if name == "area" else None)
    best = lambda v: f"{v:.4f}" if v is not None else "-"  # noqa: E731
    previous = None
    for r in summary.payoff:
        lead = r.lead
        lead_text = "-" if lead is None else (f"[green]{lead:+.4f}[/]" if lead > 0 else f"[red]{lead:+.4f}[/]"
                                                if lead < 0 else "+0")
        table.add_row(f"area {r.area}" if r.area != previous else "", f"{r.evaluations:,}",
                      f"{r.exploit_evaluations:,}", best(r.emitters_best), best(r.explore_best), lead_text,
                      end_section=False)
        previous = r.area
    return table


def _emitter_caption(counters: Mapping[str, int], evaluations: int) -> str:
    parts = []
    if "explore_evaluations" in counters and "exploit_evaluations" in counters and evaluations:
        explore, exploit = counters["explore_evaluations"], counters["exploit_evaluations"]
        parts.append(f"exploration {explore:,} evaluations ({100 * explore / evaluations:.0f}%), "
                     f"exploitation {exploit:,} ({100 * exploit / evaluations:.0f}%)")
    if "emitters_created" in counters:
        waiting = counters.get("emitter_candidates")
        text = f"{counters['emitters_created']:,} candidate emitters created"
        if waiting:
            text += f", {waiting:,} still waiting for their bootstrap"
        parts.append(text)
    if counters.get("emitter_overflow"):
        parts.append(f"{counters['emitter_overflow']:,} candidates dropped (emitter pool full)")
    return "; ".join(parts)


def _filled(archive: dict) -> dict:
    """Drops empty slots when the archive was saved with its capacity and a mask."""
    mask = next((archive[k] for k in ("filled", "mask") if k in archive), None)
    n = len(archive["reward"])
    if mask is None or mask.shape != (n,):
        return archive
    keep = mask.astype(bool)
    return {k: (v[keep] if v.ndim and len(v) == n and k not in ("grid_shape",) else v) for k, v in archive.items()}


def _name(value: Any) -> str:
    """A component's name from config: "ns" or a mapping {"name": "ns", ...}."""
    if isinstance(value, Mapping):
        value = value.get("name", value.get("type"))
    if value is None:
        return "?"
    return value if isinstance(value, str) and len(value) <= 80 else show(value, 80)


def _int_or_none(value: Any) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _budget(value: Any) -> Optional[int]:
    """The evaluation budget: a number or a mapping {"evaluations": n, ...}."""
    if isinstance(value, Mapping):
        value = value.get("evaluations", value.get("max_evaluations"))
    try:
        return int(float(value)) if value is not None else None  # YAML reads 5e5 as a string
    except (TypeError, ValueError):
        return None


def _duration(seconds: float) -> str:
    minutes, secs = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h {minutes:02d}m {secs:04.1f}s" if hours else (f"{minutes}m {secs:04.1f}s" if minutes
                                                                    else f"{secs:.1f}s")

