import numpy as np
import pytest

from tasks import mazes
from tasks.mazes import HARD_MAZE, Maze


def test_hard_maze_is_lehman_stanley_scaled_to_600():
    assert HARD_MAZE.size == (600.0, 600.0)
    assert len(HARD_MAZE.walls) == 11
    # The original [5, 200]^2 border maps exactly onto the world's border.
    assert set(HARD_MAZE.walls[:4]) == set(mazes.border_walls((600, 600)))
    np.testing.assert_allclose(HARD_MAZE.walls[5], [156.923, 150.769, 156.923, 467.692], atol=1e-3)
    assert HARD_MAZE.start == (60.0, 450.0) and HARD_MAZE.start_heading == 45.0
    assert HARD_MAZE.goals == ((60.0, 60.0, 50.0), (100.0, 200.0, 50.0))


def test_hard_maze_start_and_goals_are_clear_of_walls():
    walls = mazes.closed_walls(HARD_MAZE)
    assert len(walls) == 11  # the listed border is not added twice
    assert mazes.point_wall_distances(HARD_MAZE.start, walls).min() >= 50
    for x, y, r in HARD_MAZE.goals:
        # The whole disc is free space: no wall cuts a goal.
        assert mazes.point_wall_distances((x, y), walls).min() > r


def test_closed_walls_adds_the_missing_border():
    maze = Maze(walls=((0, 0, 0, 100), (10, 50, 90, 50)), start=(50, 20), size=(100, 100))
    walls = mazes.closed_walls(maze)
    assert walls.dtype == np.float32 and walls.shape == (5, 4)
    for b in mazes.border_walls((100, 100)):
        assert any(np.allclose(w, b) or np.allclose(w, np.asarray(b)[[2, 3, 0, 1]]) for w in walls)


def test_maze_text_round_trip(tmp_path):
    path = tmp_path / "hard.txt"
    mazes.save_maze(HARD_MAZE, path, comment="the hard maze\nscaled to 600x600")
    text = path.read_text()
    assert text.startswith("# the hard maze\n# scaled to 600x600\nsize 600.0 600.0\n")
    assert mazes.load_maze(path) == HARD_MAZE


def test_parse_accepts_comments_blank_lines_and_default_heading():
    maze = mazes.parse_maze(
        """
        # a corridor
        size 300 100   # w h

        start 20 50
        goal 280 50 15
        wall 100 0 100 60
        """
    )
    assert maze == Maze(walls=((100, 0, 100, 60),), start=(20, 50), goals=((280, 50, 15),), size=(300, 100))
    assert maze.start_heading == 0.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("size 10 10\nstart 5 5\nwal 0 0 1 1\n", r"maze.txt:3: unknown key 'wal'; valid keys: goal, size, start, wall"),
        ("size 10 10\nstart 5 5\nwall 0 0 1\n", r"maze.txt:3: 'wall' takes x0 y0 x1 y1, got 3 value"),
        ("size 10 10\nstart 5 five\n", r"maze.txt:2: 'start' takes numbers"),
        ("size 10 10\nstart 5 5\nstart 6 6\n", r"maze.txt:3: 'start' given twice \(first at line 2\)"),
        ("size 10 10\n", r"maze.txt: missing 'start' line"),
        ("start 5 5\n", r"maze.txt: missing 'size' line"),
        ("size 10 10\nstart 5 5\ngoal 1 1 0\n", r"maze.txt:3: goal radius must be > 0"),
        ("size 10 nan\nstart 5 5\n", r"maze.txt:1: 'size' values must be finite"),
        ("size -1 10\nstart 5 5\n", r"maze.txt: maze size must be positive"),
    ],
)
def test_parse_errors_name_file_and_line(text, message):
    with pytest.raises(ValueError, match=message):
        mazes.parse_maze(text, source="maze.txt")


def test_load_maze_reports_the_path(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("size 10 10\nstart 5 5\n\nwall 1 2 3\n")
    with pytest.raises(ValueError, match=f"{path}:4: 'wall' takes"):
        mazes.load_maze(path)
    with pytest.raises(FileNotFoundError):
        mazes.load_maze(tmp_path / "missing.txt")


def test_maze_normalises_and_checks_its_fields():
    maze = Maze(walls=[[0, 0, 1, 1]], start=np.array([5, 5]), goals=[(1, 2, 3)], size=[10, 10])
    assert maze.walls == ((0.0, 0.0, 1.0, 1.0),) and maze.start == (5.0, 5.0)
    hash(maze)  # usable inside a frozen, hashable task config
    with pytest.raises(ValueError, match=r"walls\[0\] must be 4 finite numbers"):
        Maze(walls=((0, 0, 1),), start=(5, 5))
    with pytest.raises(ValueError, match="start must be 2 finite numbers"):
        Maze(walls=(), start=(5, 5, 5))


def test_validate_names_the_wall_the_start_is_in():
    maze = Maze(walls=((0, 0, 100, 100), (50, 0, 50, 100)), start=(55, 30), size=(100, 100))
    with pytest.raises(ValueError, match=r"start \(55.0, 30.0\) is inside wall 1 \(50.0, 0.0, 50.0, 100.0\)"):
        mazes.validate(maze, robot_radius=10)
    mazes.validate(maze, robot_radius=4)  # a smaller robot fits
    with pytest.raises(ValueError, match="inside the 100x100 world"):
        mazes.validate(Maze(walls=(), start=(5, 50), size=(100, 100)), robot_radius=10)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the maze file is empty"),
        (b"   \n\n", "the maze file is empty"),
        (b"# just a comment\n", "holds no maze lines"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), r"not a text maze file \(byte 0x89 at offset 0"),
        (b"size 10 10\nstart 5 5\n\xff", r"not a text maze file \(byte 0xff at offset 21"),
        (b"size 10 10\x00\x00\nstart 5 5\n", "NUL bytes"),
        (b"size 10 10\nstart 5 5\nwall " + b"1 " * 100_000 + b"\n",
         r"'wall' takes x0 y0 x1 y1, got 100000 value\(s\): 'wall 1 1"),
        (b"size 10 10\nstart 5 5\n" + b"x" * 100_000 + b"\n", r"unknown key 'xxxxx.*\.\.\.'; valid keys"),
    ],
    ids=["empty", "blank", "comments-only", "png", "bad-byte-late", "nul", "long-line", "long-key"],
)
def test_files_that_are_no_maze_are_named(tmp_path, data, message):
    path = tmp_path / "maze.txt"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"{path}.*{message}") as caught:
        mazes.load_maze(path)
    assert len(str(caught.value)) < 400  # a huge line is quoted cut short


def test_a_folder_is_no_maze(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}: is a directory"):
        mazes.load_maze(tmp_path)


@pytest.mark.parametrize("listed", [0, 1, 2, 4])
def test_closed_walls_adds_each_missing_border_once(listed):
    border = mazes.border_walls((100, 50))
    inner = ((10, 10, 20, 20),)
    # listed border walls, some written backwards: never added twice
    given = inner + tuple(w if i % 2 else (w[2], w[3], w[0], w[1]) for i, w in enumerate(border[:listed]))
    walls = mazes.closed_walls(Maze(walls=given, start=(5, 5), size=(100, 50)))
    assert walls.dtype == np.float32 and walls.shape == (1 + 4, 4)
    np.testing.assert_array_equal(walls[: len(given)], np.asarray(given, np.float32))


def test_closed_walls_of_a_huge_maze_is_quick():
    import time

    rng = np.random.default_rng(0)
    walls = rng.uniform(100, 500, (100_000, 4))
    begin = time.perf_counter()
    closed = mazes.closed_walls(Maze(walls=walls, start=(30, 30), size=(600, 600)))
    assert closed.shape == (100_004, 4) and time.perf_counter() - begin < 5


def test_a_home_relative_maze_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "m.txt").write_text("size 10 10\nstart 5 5\n")
    assert mazes.load_maze("~/m.txt").size == (10.0, 10.0)
    with pytest.raises(FileNotFoundError):
        mazes.load_maze("~/missing.txt")
