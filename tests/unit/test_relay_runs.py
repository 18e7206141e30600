"""The relay's runs of consecutive outbox rows (`producers.court.relay._runs`, `_split`): a
mark folds each run into its court's Merkle accumulator at once, and a submit's rows are
published from memory only when they are one run a court starting right after the
published prefix (`Relay.usable`)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.court.relay import Relay, _runs, _split

pytestmark = pytest.mark.unit


def rows(*spec: tuple[str, int]) -> list[tuple[str, int, str]]:
    return [(code, seq, f"{code}-{seq}") for code, seq in spec]


def test_one_run_a_court_in_order() -> None:
    r = rows(("A", 3), ("A", 4), ("A", 5), ("B", 1), ("B", 2))
    assert _runs(r) == [("A", r[:3]), ("B", r[3:])]


@pytest.mark.parametrize("spec", [
    (("A", 3), ("A", 5)),  # a gap
    (("A", 4), ("A", 3)),  # out of order
    (("A", 1), ("A", 2), ("A", 2)),  # a row twice
    (("B", 1), ("A", 1)),  # courts out of order
    (("A", 1), ("B", 1), ("A", 2)),  # a court in two places
])
def test_anything_else_is_not_runs(spec: tuple[tuple[str, int], ...]) -> None:
    assert _runs(rows(*spec)) is None


@given(st.lists(st.tuples(st.sampled_from("ABC"), st.integers(1, 40)), unique=True), st.randoms())
def test_split_gives_maximal_runs_of_consecutive_rows(spec: list[tuple[str, int]],
                                                      rnd: random.Random) -> None:
    r = rows(*spec)
    rnd.shuffle(r)
    runs = _split(r)
    assert [row for _, run in runs for row in run] == sorted(r)
    for code, run in runs:
        assert {row[0] for row in run} == {code}
        assert [row[1] for row in run] == list(range(run[0][1], run[0][1] + len(run)))
    for (code, run), (code2, run2) in zip(runs, runs[1:]):
        assert code != code2 or run2[0][1] > run[-1][1] + 1  # maximal
    # In order, the rows are runs exactly when each court's rows are one run.
    assert _runs(sorted(r)) == (runs if len({c for c, _ in runs}) == len(runs) else None)


def usable(published: dict[str, int], r: list[tuple[str, int, str]], pending: bool = False):
    courts = {c: SimpleNamespace(published_seq=n, pending={1: ([], [])} if pending else {})
              for c, n in published.items()}
    return Relay.usable(SimpleNamespace(courts=courts), r)  # type: ignore[arg-type]


def test_a_submits_rows_are_usable_only_right_after_the_published_prefix() -> None:
    r = rows(("A", 6), ("A", 7), ("B", 1))
    assert usable({"A": 5, "B": 0}, r) == r
    assert usable({"A": 5, "B": 0}, list(reversed(r))) == r  # handed in another order
    assert usable({"A": 4, "B": 0}, r) == []  # row 5 is not published yet
    assert usable({"A": 5}, r) == []  # court B unknown to the relay
    assert usable({"A": 5, "B": 0}, r, pending=True) == []  # rows published past a gap
    assert usable({"A": 5, "B": 0}, rows(("A", 6), ("A", 8))) == []  # not contiguous
