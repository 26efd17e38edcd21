"""runs/typed.py: finite numbers, open bounds, and values cut short in messages."""
from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from runs import typed
from runs.config import build
from runs.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Settings:
    sigma: float = 0.1
    genome_low: float = -5.0
    high: float = 5.0
    sizes: tuple[float, ...] = (1.0,)
    maybe: float | None = None


@pytest.mark.parametrize("value", [math.nan, "nan", "NaN", math.inf, "inf", "-inf", "1e999", -math.inf])
@pytest.mark.parametrize("key", ["sigma", "maybe"])
def test_non_finite_numbers_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"s.{key} must be a finite number"):
        typed.from_plain(Settings, {key: value}, "s")


@pytest.mark.parametrize("value", [math.nan, "nan"])
@pytest.mark.parametrize("key", ["genome_low", "high"])
def test_nan_is_refused_even_for_bounds(key, value):
    with pytest.raises(ConfigError, match="finite"):
        typed.from_plain(Settings, {key: value}, "s")


@pytest.mark.parametrize("key, value", [("genome_low", -math.inf), ("high", "inf"), ("genome_low", "-inf")])
def test_bounds_may_be_open(key, value):
    settings = typed.from_plain(Settings, {key: value}, "s")
    assert math.isinf(getattr(settings, key))


def test_items_of_a_tuple_must_be_finite():
    with pytest.raises(ConfigError, match=r"s.sizes\[1\] must be a finite number"):
        typed.from_plain(Settings, {"sizes": [1.0, math.nan]}, "s")


def test_open_genome_bounds_reach_the_algorithm():
    config = build("ns", "hardmaze", sets=["algo.genome_low=-.inf", "algo.genome_high=.inf"])
    assert config.algo.genome_low == -math.inf and config.algo.genome_high == math.inf


BOMB = yaml.safe_load("[" + ", ".join(
    ["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
) + "]")


@pytest.mark.parametrize(
    "value",
    ["x" * 100_000, list(range(100_000)), BOMB, {str(i): i for i in range(10_000)}, 7**3000, 10**5000],
    ids=["string", "list", "alias-bomb", "mapping", "huge-int", "int-beyond-str-limit"],
)
def test_values_are_cut_short_in_messages(value):
    shown = typed.show(value)
    assert len(shown) <= typed.MAX_SHOWN + 40
    with pytest.raises(ConfigError) as caught:
        typed.from_plain(Settings, {"sigma": value}, "s")
    assert len(str(caught.value)) < 300


def test_short_values_are_shown_whole():
    assert typed.show([1, 2]) == "[1, 2]" and typed.show("abc") == "'abc'"
    assert typed.show(None) == "null" and typed.show(True) == "true"


def test_long_unknown_keys_are_cut_short():
    with pytest.raises(ConfigError) as caught:
        typed.from_plain(Settings, {"k" * 10_000: 1}, "s")
    assert len(str(caught.value)) < 600


def test_optional_fields_say_what_they_want():
    @dataclasses.dataclass(frozen=True)
    class Point:
        start: tuple[float, float] | None = None

    with pytest.raises(ConfigError, match=r"p.start must be a list of 2 items, got \[60\]"):
        typed.from_plain(Point, {"start": [60]}, "p")


@pytest.mark.parametrize("digits", [400, 5000])
def test_huge_integers_in_yaml_are_one_error(digits):
    with pytest.raises(ConfigError) as caught:
        build("ns", "hardmaze", sets=[f"algo.mutation_sigma={'9' * digits}"])
    assert len(str(caught.value)) < 300
