"""Argument types shared by the scripts' argparse ``main``s, so a wrong value gets the same
clear message everywhere (argparse prints it with the flag's name and exits with code 2)."""

from __future__ import annotations

import argparse
import math


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be a positive integer (>= 1)")
    return n


def positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not (x > 0 and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"{value!r} must be a positive, finite number")
    return x


def choice_of(choices):
    """An argparse type accepting one of ``choices`` (strings)."""
    def parse(value: str) -> str:
        if value not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {', '.join(choices)})")
        return value
    return parse


def comma_list(item_type):
    """An argparse type for ``a,b,c``: each item parsed by ``item_type``. Used with ``nargs="+"``,
    ``--cells lstm,gru`` and ``--cells lstm gru`` both work; join with :func:`flatten`."""
    def parse(value: str) -> list:
        items = [v.strip() for v in value.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{value!r} holds no values")
        return [item_type(v) for v in items]
    return parse


def flatten(groups) -> tuple:
    """The values of a ``nargs="+"`` + :func:`comma_list` flag, in order, without repeats."""
    return tuple(dict.fromkeys(v for group in groups for v in group))
