"""common/config.py: one dataclass declares every setting; argparse is built from it."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from common.config import SEEDS, build_parser, parse, setting


@dataclass(frozen=True)
class Demo:
    seeds: tuple[int, ...] = SEEDS((0,))
    iterations: int | None = setting(None, "iterations (default: each run's own)", min=1, max=1000)
    report: int | None = setting(None, "a report", min=1)
    rate: float = setting(0.1, "a rate", above=0.0)
    cells: tuple[str, ...] = setting(("lstm",), "cells", choices=("rnn", "lstm", "gru"))
    unroll: bool = setting(True, "unroll")
    out: Path = setting(Path("figures"), "where")
    hidden_thing: int = 3  # a field without setting() is not a flag


def test_defaults_and_types():
    d = parse(Demo, [])
    assert d == Demo()
    d = parse(
        Demo,
        ["--seeds", "0,1,2", "--iterations", "5", "--rate", "0.5", "--cells", "rnn,gru", "--no-unroll", "--out", "x/y"],
    )
    assert d.seeds == (0, 1, 2) and d.iterations == 5 and d.rate == 0.5 and d.cells == ("rnn", "gru")
    assert d.unroll is False and d.out == Path("x/y") and d.hidden_thing == 3


def test_comma_lists_and_space_lists_join_without_repeats():
    assert parse(Demo, ["--seeds", "2,0", "1", "0"]).seeds == (2, 0, 1)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--seeds", "-1"], "argument --seeds: '-1' must be >= 0"),
        (["--seeds", "1,x"], "argument --seeds: 'x' is not an integer"),
        (["--iterations", "0"], "argument --iterations: '0' must be a positive integer"),
        (["--iterations", "1001"], "argument --iterations: '1001' must be <= 1,000"),
        (["--rate", "0"], "argument --rate: '0' must be > 0.0"),
        (["--rate", "nan"], "argument --rate: 'nan' is not a finite number"),
        (["--cells", "lstm,cnn"], "argument --cells: invalid choice: 'cnn' (choose from rnn, lstm, gru)"),
        (["--hidden-thing", "4"], "unrecognized arguments: --hidden-thing"),
    ],
)
def test_bad_values_name_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(Demo, argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_help_states_each_default_once():
    text = build_parser(Demo, "demo").format_help()
    assert "--seeds SEEDS" in text and "(default: 0)" in text and "(default: none)" in text
    assert text.count("(default: each run's own)") == 1
    assert " ".join(text.split()).count("(default:") == 7  # once per flag, never doubled
    assert "--unroll, --no-unroll" in text and "--hidden-thing" not in text
