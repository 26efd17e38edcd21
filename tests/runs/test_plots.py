"""Tests of runs/plots.py and runs/curves.py: figures are checked in the saved
pixels (points where they belong, walls dark, empty cells grey)."""
import dataclasses

import matplotlib as mpl
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors

from runs import curves, plots, plotstyle
from tasks.spec import RewardArea
from tests.runs.run_fixtures import tiny_spec


def saved_pixels(fig, tmp_path, name="fig.png"):
    """Saves `fig` and returns its RGB pixels [H, W, 3] in [0, 1]."""
    path = plots.save(fig, tmp_path / name)
    return mpimg.imread(path)[..., :3]


def pixel_of(ax, image, xy):
    """The saved image's pixel at data point `xy` (display y grows upwards)."""
    x, y = ax.transData.transform(xy)
    return image[int(round(image.shape[0] - y)), int(round(x))]


def distinct_colours(image) -> int:
    q = (image * 20).round().astype(np.int64)  # 21 levels per channel: ignores anti-aliasing noise
    return len(np.unique(q[..., 0] * 441 + q[..., 1] * 21 + q[..., 2]))


def test_descriptor_to_world_inverts_the_spec():
    spec = tiny_spec()
    world = np.array([[0.0, 0.0], [2.5, 7.5], [10.0, 10.0]])
    descriptors = spec.world_to_descriptor(world)
    np.testing.assert_allclose(plots.descriptor_to_world(spec, descriptors), world)
    np.testing.assert_allclose(plots.world_to_descriptor(spec, world), descriptors)


def test_archive_map_puts_points_where_they_are_with_their_colour(tmp_path):
    spec = tiny_spec()
    world = np.array([[8.0, 8.0], [8.0, 3.5], [3.5, 2.0]])
    values = np.array([0.0, 0.5, 1.0])
    fig = plots.plot_archive_map(spec, spec.world_to_descriptor(world), values, colour_label="reward",
                                 vmin=0.0, vmax=1.0, point_size=300, start=(5.0, 8.0))
    image = saved_pixels(fig, tmp_path)
    ax = fig.axes[0]
    viridis = mpl.colormaps["viridis"]
    for xy, v in zip(world, values):
        np.testing.assert_allclose(pixel_of(ax, image, xy), viridis(v)[:3], atol=0.03)
    # The wall from (0, 5) to (6, 5) is drawn dark; the disc of area 0 is a light orange.
    assert pixel_of(ax, image, (3.0, 5.0)).max() < 0.2
    tint = 1 - 0.16 * (1 - np.array(mcolors.to_rgb(plotstyle.AREA)))
    np.testing.assert_allclose(pixel_of(ax, image, (1.6, 7.6)), tint, atol=0.03)
    assert pixel_of(ax, image, (6.0, 9.0)).min() > 0.97  # empty floor stays white
    texts = {t.get_text() for t in ax.texts}
    assert {"area 0", "area 1", "area 2"} <= texts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["start"]
    assert fig.axes[1].get_ylabel() == "reward"  # the colourbar
    assert ax.get_xlabel() == "x (world units)"
    assert image.shape[:2] == (round(plotstyle.MAP_SIZE[1] * plots.DPI), round(plotstyle.MAP_SIZE[0] * plots.DPI))


def test_archive_map_draws_y_down_tasks_upside_down(tmp_path):
    spec = tiny_spec(y_down=True)
    fig = plots.plot_archive_map(spec, [[0.5, 0.1]], [1.0], colour_label="reward", point_size=300, vmin=0, vmax=1)
    image = saved_pixels(fig, tmp_path)
    ax = fig.axes[0]
    x, y = ax.transData.transform((5.0, 1.0))
    assert y > ax.transData.transform((5.0, 9.0))[1]  # world y = 1 is near the top
    np.testing.assert_allclose(pixel_of(ax, image, (5.0, 1.0)), mpl.colormaps["viridis"](1.0)[:3], atol=0.03)
    assert ax.yaxis_inverted()


def test_archive_map_mutes_points_and_rejects_mismatched_values(tmp_path):
    spec = tiny_spec()
    world = np.array([[8.0, 8.0], [3.0, 8.0]])
    fig = plots.plot_archive_map(spec, world, [0.0, 0.7], world=True, colour_label="reward", point_size=300,
                                 muted=np.array([True, False]), muted_label="no reward")
    image = saved_pixels(fig, tmp_path)
    grey = 1 - 0.7 * (1 - np.array(mcolors.to_rgb(plots.MUTED)))  # alpha 0.7 over the white floor
    np.testing.assert_allclose(pixel_of(fig.axes[0], image, (8.0, 8.0)), grey, atol=0.03)
    assert "no reward" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    with pytest.raises(ValueError, match="2 positions but 3 colour values"):
        plots.plot_archive_map(spec, world, [0.0, 1.0, 2.0], world=True, colour_label="reward")


def test_archive_map_accepts_an_empty_archive_and_a_given_axes(tmp_path):
    spec = tiny_spec()
    fig, axes = plotstyle.panels(2)
    assert plots.plot_archive_map(spec, np.zeros((0, 2)), np.zeros(0), colour_label="reward", ax=axes[1]) is fig
    assert distinct_colours(saved_pixels(fig, tmp_path)) > 5


def test_label_anchors_avoid_world_edges_and_other_discs():
    spec = tiny_spec()
    anchors = plots.label_anchors(spec)
    assert anchors[0][3] == "bottom"  # area 0 at (2, 8) r 1: room above
    assert anchors[2][3] == "bottom" and anchors[2][1] == pytest.approx(1.6)  # above: y=1+0.5+0.1
    edge = dataclasses.replace(spec, reward_areas=(RewardArea((5.0, 9.5), 0.4),))
    assert plots.label_anchors(edge)[0][3] == "top"  # no room above the disc: below it


def test_cell_counts_match_the_coverage_metric():
    from qd import metrics

    rng = np.random.default_rng(1)
    points = rng.uniform(-0.1, 1.1, (500, 2))  # some outside: they count in the edge cells
    counts = plots.cell_counts(points, (0.0, 0.0), (1.0, 1.0), (50, 50))
    reference = np.asarray(metrics.cell_histogram(points, (0.0, 0.0), (1.0, 1.0), 50)).reshape(50, 50)
    np.testing.assert_array_equal(counts, reference)
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        plots.cell_counts(np.zeros((3, 3)), (0, 0), (1, 1), (5, 5))


def test_coverage_grid_colours_hit_cells_and_greys_the_rest(tmp_path):
    spec = tiny_spec()
    world = np.array([[7.1, 7.1], [7.1, 7.15], [2.1, 3.1]])  # two points share a cell
    fig = plots.plot_coverage_grid(spec, world, world=True)
    ax = fig.axes[0]
    assert ax.get_title() == "coverage 0.1% (2 of 50×50 cells)"
    image = saved_pixels(fig, tmp_path)
    cividis = mpl.colormaps["cividis"]
    np.testing.assert_allclose(pixel_of(ax, image, (7.1, 7.1)), cividis(1.0)[:3], atol=0.04)  # 2 = top of scale
    np.testing.assert_allclose(pixel_of(ax, image, (2.1, 3.1)), cividis(0.0)[:3], atol=0.04)  # 1 = bottom
    np.testing.assert_allclose(pixel_of(ax, image, (9.0, 7.0)), mcolors.to_rgb(plotstyle.EMPTY), atol=0.02)


def test_grid_heatmap_shows_values_and_empty_cells(tmp_path):
    values = np.full((4, 3), np.nan)
    values[0, 0], values[3, 2] = 0.0, 1.0
    fig = plots.plot_grid_heatmap(values, ((0.0, 0.0), (4.0, 3.0)), colour_label="best reward")
    ax = fig.axes[0]
    assert ax.get_title() == "2 of 12 cells filled (16.7%)"
    image = saved_pixels(fig, tmp_path)
    viridis = mpl.colormaps["viridis"]
    np.testing.assert_allclose(pixel_of(ax, image, (0.5, 0.5)), viridis(0.0)[:3], atol=0.03)
    np.testing.assert_allclose(pixel_of(ax, image, (3.5, 2.5)), viridis(1.0)[:3], atol=0.03)  # i along x
    np.testing.assert_allclose(pixel_of(ax, image, (1.5, 1.5)), mcolors.to_rgb(plotstyle.EMPTY), atol=0.02)


def test_grid_heatmap_collapses_extra_dimensions_and_needs_two():
    values = np.full((2, 2, 3), np.nan)
    values[1, 0, 2], values[1, 0, 0] = 0.25, 0.75
    fig = plots.plot_grid_heatmap(values, ((0, 0, 0), (1, 1, 1)), y_down=True)
    data = fig.axes[0].images[0].get_array()
    assert data[0, 1] == 0.75 and data.mask[0, 0] and data.mask[1, 1]  # transposed: [j, i]
    assert fig.axes[0].yaxis_inverted()
    assert fig.axes[0].get_title() == "2 of 12 cells filled (16.7%)"
    with pytest.raises(ValueError, match="one axis per descriptor"):
        plots.plot_grid_heatmap(np.zeros(4), ((0,), (1,)))


def test_curves_of_one_run_draw_one_line_per_column(tmp_path):
    frame = pd.DataFrame({"evaluations": [100, 200, 300], "coverage": [0.1, 0.2, 0.4],
                          "explored_coverage": [0.2, 0.3, 0.5]})
    fig = plots.plot_curves(frame, ["coverage", "explored_coverage", "missing"], percent=True,
                            column_labels={"coverage": "archive"}, ylabel="coverage")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label()[:1] != "_"]
    assert [line.get_label() for line in lines] == ["archive", "explored_coverage"]
    np.testing.assert_allclose(lines[0].get_ydata(), [0.1, 0.2, 0.4])
    assert lines[0].get_color() != lines[1].get_color()
    assert ax.get_xlabel() == "evaluations (episodes)"
    image = saved_pixels(fig, tmp_path)
    assert distinct_colours(image) > 5
    assert image.shape[:2] == (round(curves.CURVE_SIZE[1] * plots.DPI), round(curves.CURVE_SIZE[0] * plots.DPI))


def test_curves_aggregate_runs_with_the_same_label():
    a = pd.DataFrame({"evaluations": [0, 100, 200], "coverage": [0.0, 0.2, 0.4]})
    b = pd.DataFrame({"evaluations": [0, 50, 200], "coverage": [0.0, 0.2, 0.6]})
    c = pd.DataFrame({"evaluations": [0, 200], "coverage": [0.1, 0.1]})
    fig = plots.plot_curves([a, b, c], "coverage", labels=["NS", "NS", "ME"], band="minmax")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["NS"].get_xdata(), [0, 50, 100, 200])
    # a at 50 is interpolated (0.1), b at 100 too (0.2 + 50/150 * 0.4)
    np.testing.assert_allclose(lines["NS"].get_ydata(), [0.0, 0.15, (0.2 + 0.2 + 0.4 / 3) / 2, 0.5])
    assert len(ax.collections) == 1  # one band: ME has a single run, drawn as a line
    assert lines["NS"].get_color() != lines["ME"].get_color()


def test_curves_resample_hold_steps_and_do_not_extrapolate():
    a = pd.DataFrame({"evaluations": [100, 300], "r": [0.5, 0.9]})
    b = pd.DataFrame({"evaluations": [200, 400], "r": [-np.inf, 0.7]})
    grid, values = curves.resample([a, b], "r", "evaluations", hold=True)
    np.testing.assert_array_equal(grid, [100, 200, 300, 400])
    np.testing.assert_allclose(values, [[0.5, 0.5, 0.9, np.nan], [np.nan, np.nan, np.nan, 0.7]])
    _, filled = curves.resample([b], "r", "evaluations", fill_value=0.0)
    np.testing.assert_allclose(filled, [[0.0, 0.7]])  # -inf filled, then linear


def test_curve_bands_and_errors():
    values = np.array([[1.0, 2.0], [3.0, np.nan]])
    centre, low, high = curves.aggregate(values, "std")
    np.testing.assert_allclose(centre, [2.0, 2.0])
    np.testing.assert_allclose(high - centre, [1.0, 0.0])
    np.testing.assert_allclose(curves.aggregate(values, "iqr")[0], [2.0, 2.0])
    np.testing.assert_allclose(curves.aggregate(values, "sem")[2], [2.0 + 1 / np.sqrt(2), 2.0])
    frame = pd.DataFrame({"evaluations": [1], "coverage": [0.1]})
    with pytest.raises(ValueError, match="band must be one of"):
        plots.plot_curves(frame, "coverage", band="ci")
    with pytest.raises(ValueError, match="2 labels for 1 runs"):
        plots.plot_curves(frame, "coverage", labels=["a", "b"])
    empty = plots.plot_curves(frame, "nothing")
    assert empty.axes[0].texts[0].get_text() == "no data (nothing)"


def test_compact_counts():
    assert [curves.compact_count(v) for v in (0, 500, 1500, 2e6, 5e5)] == ["0", "500", "1.5k", "2M", "500k"]


def test_save_creates_folders_and_leaves_no_temp_files(tmp_path):
    fig = plots.plot_curves(pd.DataFrame({"evaluations": [1, 2], "coverage": [0.1, 0.2]}), "coverage")
    path = plots.save(fig, tmp_path / "deep" / "er" / "curve.png")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["curve.png"]
    assert plots.save(fig, tmp_path / "curve.pdf").read_bytes()[:4] == b"%PDF"
