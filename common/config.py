"""Settings declared once (docs/reliability.md, "One way to configure every script"): a script's settings are one
dataclass, ``parse(Settings, argv)`` builds the argparse parser from it (a flag per ``setting`` field, its type from
the annotation: ``bool`` as ``--x``/``--no-x``, ``tuple[X, ...]`` as ``--seeds 0,1,2``) and returns it filled::

    @dataclass(frozen=True)
    class Settings:
        seeds: tuple[int, ...] = SEEDS((0,))
        iterations: int = setting(5500, "training iterations (batches) per run", min=1)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path

from common import cpu

MAX_SEED = 2**32 - 1  # NumPy's and Keras' seeds are 32-bit
MAX_ITERATIONS = 10_000_000  # 500 M images at batch 50: far past anything this study needs


def parse_image_size(text: str) -> tuple[int, int]:
    """``"28x28"`` -> (28, 28): height x width in pixels, each 1..4096."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not HxW (e.g. 28x28: height x width in pixels)")
    h, w = int(parts[0]), int(parts[1])
    if not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise ValueError(f"{text!r}: height and width must be 1..4096 pixels")
    return h, w


CHECKS = ("min", "above", "below", "max", "choices", "metavar", "check")


def setting(default, help: str, *, repeat: bool = False, **checks):
    """A dataclass field that is also a flag (a field without one is not). ``checks``: ``min``/``max`` bound numbers
    (each item of a tuple; ``above``/``below``: strictly), ``choices`` restricts strings, ``check(value)`` raises
    ValueError with the reason, ``metavar`` names the value. ``repeat``: a tuple flag given once per value (``--set
    a=1 --set b=2``), not split at commas."""
    if unknown := sorted(checks.keys() - set(CHECKS)):
        raise TypeError(f"setting(): unknown checks {unknown}; the checks are {', '.join(CHECKS)}")
    return dataclasses.field(default=default, metadata={"help": help, "repeat": repeat, **checks})


knob = setting  # a field of a run's definition (common.study.RunConfig) that --set FIELD=VALUE may change


def parse_overrides(cls, items: tuple[str, ...], fields) -> dict:
    """``("dropout=0.3", "learning_rate=3e-4")`` -> ``{"dropout": 0.3, "learning_rate": 0.0003}``: each value
    converted by its field's annotation in the dataclass ``cls`` and checked as its ``knob`` says; ``fields``
    are the names that may be set. A wrong item raises ``UserError`` (exit 2) naming it and the fix."""
    from common.cli import UserError

    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name in fields}
    out = {}
    for item in items:
        field, sep, raw = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise UserError(f"--set {item}: expected FIELD=VALUE, e.g. --set dropout=0.3")
        if field not in known:
            raise UserError(f"--set {item}: no field {field!r}; the fields are {', '.join(known)}")
        meta = known[field].metadata
        try:
            out[field] = _converter(_parts(hints[field])[0], meta)(raw)
        except argparse.ArgumentTypeError as err:
            raise UserError(f"--set {item}: {err} ({field}: {meta.get('help', '')})") from None
    return out


def Spec(help: str, **checks):
    """A flag shared by several scripts, its description and checks declared once: ``SEED(0)``, or
    ``SEED(0, "picks the test images")`` with a description of its own."""
    return lambda default, own=None, **more: setting(default, own or help, **{**checks, **more})


# The flags every script that trains or reads runs spells the same way.
SEEDS = Spec(
    "seeds, comma-separated; each seed is a run of its own (weights, batch order, dropout)", min=0, max=MAX_SEED
)
SEED = Spec("seed of the weights, batch order and dropout", min=0, max=MAX_SEED)
DATASET = Spec("data set: a folder <data-dir>/<NAME>/{Train,Test}/<class>/*.png", metavar="NAME")
COLOR = Spec(
    "read the images as gray (1 channel) or rgb (3 channels); the network's input channels follow "
    "(default: the data's own, gray when every image is single-channel)",
    choices=("gray", "rgb"),
)
IMAGE_SIZE = Spec(
    "resize every image to HxW pixels (height x width, e.g. 28x28), for sets of mixed sizes "
    "(default: the images' own size, which must be one for all)",
    metavar="HxW",
    check=parse_image_size,
)
DATA_DIR = Spec(
    "folder holding <NAME>/Train and <NAME>/Test (default: $DATA_DIR, ./data, ../shared/data)", metavar="DIR"
)
RUNS_DIR = Spec("where each run's folder goes (metrics.json, checkpoint, model, TensorBoard logs)", metavar="DIR")
OUT_DIR = Spec("where figures and summary tables go", metavar="DIR")
ITERATIONS = Spec("training iterations (batches) per run", min=1, max=MAX_ITERATIONS)
BATCH_SIZE = Spec("images per training batch", min=1)
EVAL_EVERY = Spec("iterations between evaluations (test accuracy and loss, statistics)", min=1)
CHECKPOINT_EVERY = Spec("iterations between resumable checkpoints (rounded to a multiple of --eval-every)", min=1)
LEARNING_RATE = Spec("learning rate", above=0.0)
SET = Spec(
    "change a field of the runs this command trains, FIELD=VALUE, e.g. --set dropout=0.3 (repeat the flag for "
    "more; a field it does not know lists the fields). Such a run gets an identity and a folder of its own, beside "
    "the run as defined, and the tables show the change beside its name",
    metavar="FIELD=VALUE",
    repeat=True,
)
PRECISION = Spec(
    "float32, or mixed_bfloat16: bfloat16 matmuls and convolutions with float32 weights, faster on CPUs "
    "with AMX/AVX512-BF16, slower on the others (0.18x on an AVX2-only CPU; the scripts warn there); it "
    "changes the numbers, so a run's identity records it",
    choices=("float32", "mixed_bfloat16"),
)
FUSED_ADAM = Spec(
    "Adam on TensorFlow's fused kernel: one pass over the weights instead of about 12, faster training "
    "(README: Speed); it rounds 1 - beta differently from Keras' Adam, so it changes the numbers and a "
    "run's identity records it (TensorFlow only)"
)


def _at_most_cores(n: int) -> None:
    if n > cpu.cores():
        raise ValueError(f"{n} workers on {cpu.cores()} cores: at most one per core")


WORKERS = Spec(
    "train this command's independent runs (its runs x seeds, a search's trials) in this many processes side by "
    "side, at most one per core; each run is trained once, and its numbers are those it gets alone",
    min=1,
    check=_at_most_cores,
)


def _parts(annotation):
    """(base type, is_tuple) of a field's annotation, ``X | None`` read as ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], True
    return annotation, False


def _choices(meta):
    """A field's allowed values; a callable is asked at parse time (run lists that tests extend)."""
    choices = meta.get("choices")
    return choices() if callable(choices) else choices


def _check(value, meta, raw: str):
    lo, above, hi, choices = meta.get("min"), meta.get("above"), meta.get("max"), _choices(meta)
    if choices is not None and value not in choices:
        raise argparse.ArgumentTypeError(f"invalid choice: {raw!r} (choose from {', '.join(map(str, choices))})")
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a finite number")
    if lo is not None and value < lo:
        what = "a positive integer" if lo == 1 and isinstance(value, int) else f">= {lo}"
        raise argparse.ArgumentTypeError(f"{raw!r} must be {what}")
    if above is not None and not value > above:
        raise argparse.ArgumentTypeError(f"{raw!r} must be > {above}")
    if meta.get("below") is not None and not value < meta["below"]:
        raise argparse.ArgumentTypeError(f"{raw!r} must be < {meta['below']}")
    if hi is not None and value > hi:
        raise argparse.ArgumentTypeError(f"{raw!r} must be <= {hi:,}")
    if meta.get("check") is not None:
        try:
            meta["check"](value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return value


BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}  # as --set unroll=false


def _converter(base, meta):
    def one(raw: str):
        raw = raw.strip()
        try:
            value = Path(raw).expanduser() if base is Path else BOOLS[raw.lower()] if base is bool else base(raw)
        except (ValueError, KeyError):
            what = {int: "an integer", bool: "true or false"}.get(base, "a number")
            raise argparse.ArgumentTypeError(f"{raw!r} is not {what}") from None
        return _check(value, meta, raw)

    return one


def _comma_list(one):
    def parse(raw: str) -> tuple:
        items = [v for v in raw.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{raw!r} holds no values")
        return tuple(one(v) for v in items)

    return parse


def build_parser(cls, description: str, epilog: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one flag per ``setting`` field of the dataclass ``cls``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta:
            continue
        flag = "--" + f.name.replace("_", "-")
        base, is_tuple = _parts(hints[f.name])
        d = f.default
        shown = ",".join(map(str, d)) if isinstance(d, tuple) else "none" if d is None else str(d)
        # a help text that already says its default (e.g. "default: each run's own") keeps it
        help_text = meta["help"] if "(default:" in meta["help"] else f"{meta['help']} (default: {shown})"
        kwargs = {"dest": f.name, "help": help_text}
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, **kwargs)
            continue
        one = _converter(base, meta)
        metavar = meta.get("metavar") or (
            f.name.upper() if not meta.get("choices") else "{" + ",".join(map(str, _choices(meta))) + "}"
        )
        kwargs |= {"default": None, "metavar": metavar}
        if is_tuple and meta.get("repeat"):  # --set a=1 --set b=2: one value per flag, commas kept
            parser.add_argument(flag, type=lambda raw, one=one: (one(raw),), action="append", **kwargs)
        elif is_tuple:  # "--seeds 0,1,2" and "--seeds 0 1 2" both work; parse joins the groups
            parser.add_argument(flag, type=_comma_list(one), nargs="+", **kwargs)
        else:
            parser.add_argument(flag, type=one, **kwargs)
    return parser


def parse(cls, argv=None, description: str = "", epilog: str | None = None, prog: str | None = None):
    """``cls`` filled from the command line ``argv`` (default ``sys.argv[1:]``); flags not given keep the default."""
    ns, values = build_parser(cls, description, epilog, prog).parse_args(argv), {}
    for f in dataclasses.fields(cls):
        value = getattr(ns, f.name, None)
        if isinstance(value, list):  # nargs="+" of comma lists: join, drop repeats, keep order
            value = tuple(dict.fromkeys(v for group in value for v in group))
        if value is not None:
            values[f.name] = value
    return dataclasses.replace(cls(), **values)
