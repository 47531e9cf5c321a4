"""Two routes to data in the course's layout, ``data/<NAME>/{Train,Test}/<class>/ImageNNNNN.png``.

    python -m common.datasets fetch          # `make data`: the course's own CIFAR10/ and MNIST/ into ./data
    python -m common.datasets keras cifar10  # Keras' full CIFAR-10 as ./data/CIFAR10_FULL (50,000 / 10,000)
    python -m common.datasets keras mnist    # Keras' full MNIST as ./data/MNIST_FULL (60,000 / 10,000)

fetch: the course repository's CIFAR10/ and MNIST/ folders alone (a blob-less, depth-1 fetch, sparse checkout) at
the pinned ``COURSE_COMMIT``, into a temporary folder inside ./data, checked against ``MANIFEST`` (one SHA-256 per
file, ``sha256sum`` format: ``cd data && sha256sum -c ../common/data_manifest.sha256`` checks by hand) and only then
renamed into place: ./data/CIFAR10 is verified data or absent, never half-written. Folders already there are checked,
never fetched again. Overrides (tests, mirrors): --url, --commit, $COURSE_DATA_URL, $COURSE_DATA_COMMIT. Standard
library and git only: `make data` runs before the venv exists.

keras: Keras' own downloads (``keras.datasets.cifar10.load_data()``, ``mnist.load_data()``; needs the
venv and internet once, Keras keeps them in ~/.keras/datasets) written in full in the same layout under
names of their own, so they never mix with the study's 1000/100-per-class sets. Class folders 0..9 are
Keras' labels, which follow the course's (CIFAR-10's order: airplane ... truck; MNIST's digits); the
images of a class are numbered in Keras' order. MNIST is written as it comes (28x28 8-bit gray).
CIFAR-10 is converted by ``common.data.to_grayscale_28``, the loader's own conversion: Pillow
``convert("L")``, ITU-R 601-2 luma L = 0.299 R + 0.587 G + 0.114 B rounded to 8 bits, then the whole
32x32 image resized to 28x28 with Pillow's bilinear filter (antialiased when shrinking), no crop. The course's
repository does not say how it made its images (its README: "all images in the provided sample datasets are
grayscale and have size 28x28"), so this is our choice. Run the scripts on them by name (./data is searched by
default; elsewhere pass --data-dir):

    python cifar_v2.py --dataset CIFAR10_FULL
    python rnn_mnist.py --dataset MNIST_FULL
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from common.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError, alive, writable_dir  # the standard library's alone

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
COURSE_URL = "https://github.com/cicconet/MachineLearning.git"
# master on 2020-12-25; its CIFAR10/ and MNIST/ were added on 2016-01-29 (faf11a8d) and never changed.
COURSE_COMMIT = "4fbcb407ba44f8de439a2c1c02ea202c71c7f615"
MANIFEST = Path(__file__).with_name("data_manifest.sha256")
PROBE_TIMEOUT_S = 8  # offline must fail in seconds, not after TCP's minutes-long connect timeout
FETCH_TIMEOUT_S = 900  # about 10 MB; stalled transfers stop earlier (http.lowSpeedTime below)
OS_JUNK = {".DS_Store", "Thumbs.db", "desktop.ini"}  # written by file browsers into copied folders
KERAS_SETS = {"cifar10": "CIFAR10_FULL", "mnist": "MNIST_FULL"}


class GitFailure(UserError):
    """A git command failed: the fetch's message adds the manual route."""


def _rel(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it, for short messages."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


def read_manifest(path: Path) -> dict[str, str]:
    """``{"CIFAR10/Train/0/Image00000.png": sha256 hex}`` from ``sha256sum`` lines."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UserError(f"cannot read the manifest {path}: {err}") from None
    entries = {}
    for n, line in enumerate(lines, 1):
        # "<hex>  <path>" (text mode) or "<hex> *<path>" (binary mode): both mean the same bytes here.
        if len(line) < 67 or line[64:66] not in ("  ", " *"):
            raise UserError(f"{path}, line {n}: not '<sha256>  <path>': {line[:80]!r}")
        entries[line[66:]] = line[:64]
    return entries


def hash_files(root: Path, folder: str) -> dict[str, str]:
    """SHA-256 of every file under ``root/folder``, keyed by its path relative to ``root``."""
    return {
        f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted((root / folder).rglob("*"))
        if f.is_file() and f.name not in OS_JUNK
    }


def write_manifest(root: Path, folders: list[str], out: Path) -> int:
    """Writes the manifest of ``root/<folder>`` for each folder; returns the number of files."""
    hashes = {}
    for folder in folders:
        if not (root / folder).is_dir():
            raise UserError(f"{root / folder}: no such folder")
        hashes.update(hash_files(root, folder))
    out.write_text("".join(f"{h}  {p}\n" for p, h in sorted(hashes.items())), encoding="utf-8", newline="\n")
    return len(hashes)


def _check(root: Path, folder: str, manifest: dict[str, str], what: str, then: str) -> None:
    """Raises where ``root/folder`` differs from the manifest's entries for it: ``what``, each file, ``then``."""
    expected = {p: h for p, h in manifest.items() if p.split("/", 1)[0] == folder}
    actual = hash_files(root, folder)
    diffs = (
        [f"missing:   {p}" for p in sorted(expected.keys() - actual.keys())]
        + [f"extra:     {p}" for p in sorted(actual.keys() - expected.keys())]
        + [f"different: {p}" for p in sorted(expected.keys() & actual.keys()) if expected[p] != actual[p]]
    )
    if diffs:
        more = f"\n  ... and {len(diffs) - 20} more" if len(diffs) > 20 else ""
        raise UserError(f"{what} ({len(diffs)} files):\n  " + "\n  ".join(diffs[:20]) + f"{more}\n{then}")


def _manual_route(url: str, commit: str, dest: Path, folders: list[str]) -> str:
    names = " and ".join(f"{f}/" for f in folders)
    web = url.removesuffix(".git")
    if web.startswith("https://github.com/"):
        source = f"download {web}/archive/{commit}.zip (the repository at that commit), unzip it and copy its"
    else:
        source = f"copy the {url} repository's (at commit {commit})"
    return (
        f"Manual route: {source} {names} folders into {dest}{os.sep}, then rerun `python -m common.datasets "
        f"fetch` to check them; or run the scripts with --data-dir <folder> (or DATA_DIR=<folder>) where <folder> "
        f"holds {names}"
    )


def _git(args: list[str], cwd: Path | None, timeout: float, config: tuple[str, ...] = ()) -> None:
    """``git -c <config>... <args>``; a GitFailure names the command and git's own last words."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")  # a wrong URL must fail, not ask for a password
    options = [a for c in config for a in ("-c", c)]
    try:  # its own process group (POSIX; Windows ignores it), so that a timeout or Ctrl-C also ends git's helpers
        # (git-remote-https outlives a killed git while the server keeps the connection open)
        proc = subprocess.Popen(["git", *options, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    except FileNotFoundError:
        raise GitFailure("git is not installed (or not on PATH)") from None
    try:
        stderr = proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        raise GitFailure(f"`git {args[0]}` got no answer within {timeout:g} s (offline?)") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL) if os.name == "posix" else proc.kill()
            proc.wait()
    if proc.returncode != 0:
        said = [line for line in stderr.splitlines() if line.startswith(("fatal:", "error:"))]
        said = said or [line for line in stderr.splitlines() if line.strip()] or [f"exit code {proc.returncode}"]
        raise GitFailure(f"`git {args[0]}` failed: {said[0].rstrip('.')}")


def _remove(path: Path) -> None:
    def make_writable(func, p, _exc):  # Git writes its packs read-only, which Windows will not delete
        os.chmod(p, stat.S_IWRITE)
        func(p)

    key = "onexc" if sys.version_info >= (3, 12) else "onerror"  # onerror is deprecated from 3.12
    shutil.rmtree(path, **{key: make_writable})


TEMP_PREFIX = ".fetch-"  # + the fetching process's id + "-": the temporary folder inside dest


def _remove_leftovers(dest: Path) -> None:
    """Removes the temporary folders in ``dest`` of fetches killed outright (kill -9, a power cut); on Windows,
    which cannot ask whether a process runs, names them."""
    for folder in dest.glob(f"{TEMP_PREFIX}*"):
        pid = folder.name[len(TEMP_PREFIX) :].split("-")[0]
        if os.name != "posix":
            print(f"note: {folder} was left by an interrupted fetch; delete it when no other fetch runs")
        elif not (pid.isdigit() and alive(int(pid))):  # an older version's name (no id), or a process that is gone
            _remove(folder)
            print(f"removed {_rel(folder)}, left by an interrupted fetch")


def fetch(dest: Path, url: str, commit: str, manifest_path: Path) -> None:
    manifest = read_manifest(manifest_path)
    folders = sorted({p.split("/", 1)[0] for p in manifest})
    manual = _manual_route(url, commit, dest, folders)
    mname = _rel(manifest_path)

    present = [f for f in folders if (dest / f).exists()]
    for folder in present:
        then = f"It was left as it is. Move it away (or delete it) and rerun to fetch it from {url}. {manual}."
        _check(dest, folder, manifest, f"{dest / folder} is there but differs from {mname}", then)
    n_present = sum(p.split("/", 1)[0] in present for p in manifest)
    if present:
        print(f"{', '.join(_rel(dest / f) for f in present)}: verified, all {n_present:,} files match {mname}")
    missing = [f for f in folders if f not in present]
    if not missing:
        print("nothing to fetch")
        return

    where = f"{', '.join(f + '/' for f in missing)} from {url} at commit {commit}"
    tmp = None
    try:
        try:
            _git(["ls-remote", url, "HEAD"], None, PROBE_TIMEOUT_S)  # fails in seconds when offline
            print(f"fetching {where} ...", flush=True)
            writable_dir(dest, "--dest")
            _remove_leftovers(dest)
            # Inside dest, so that the final move is a rename on one file system; its name (with this process's
            # id) is no data set's, so the scripts never read it, and it is removed below whatever happens.
            tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=dest))
            _sparse_checkout(tmp, url, commit, missing)
        except GitFailure as err:
            raise UserError(f"cannot fetch {where}: {err}.\n{manual}.") from None
        for folder in missing:  # a folder the commit lacks: every file missing
            what = f"{folder}/ from {url} at commit {commit} differs from {mname}"
            _check(tmp, folder, manifest, what, f"Nothing of it was written to {dest}. {manual}.")
        for folder in missing:
            os.replace(tmp / folder, dest / folder)
    finally:  # whatever ends it: a failure, Ctrl-C (KeyboardInterrupt), a full disk
        if tmp is not None:
            with contextlib.suppress(OSError):  # what stays is named (main) and removed by the next fetch
                _remove(tmp)
    counts = ", ".join(f"{_rel(dest / f)} ({sum(p.startswith(f + '/') for p in manifest):,} files)" for f in missing)
    print(f"fetched {counts}; all {len(manifest):,} files in {_rel(dest)} match {mname}")


def _sparse_checkout(repo: Path, url: str, commit: str, folders: list[str]) -> None:
    """``folders`` of ``commit`` into ``repo``: one commit (depth 1), no blobs but theirs (filter)."""
    _git(["init", "--quiet"], repo, 60)
    # core.sparseCheckout with a patterns file works on any git (`git sparse-checkout set` needs 2.25+);
    # "/NAME/" matches the top-level folder only.
    _git(["config", "core.sparseCheckout", "true"], repo, 60)
    (repo / ".git" / "info").mkdir(parents=True, exist_ok=True)
    (repo / ".git" / "info" / "sparse-checkout").write_text("".join(f"/{f}/\n" for f in folders))
    low_speed = ("http.lowSpeedLimit=1000", "http.lowSpeedTime=60")  # a stalled transfer stops
    _git(["fetch", "--quiet", "--depth", "1", "--filter=blob:none", url, commit], repo, FETCH_TIMEOUT_S, low_speed)
    # The sparse folders' blobs come now, in one batch; autocrlf off, so that no byte is ever changed.
    _git(["checkout", "--quiet", "FETCH_HEAD"], repo, FETCH_TIMEOUT_S, (*low_speed, "core.autocrlf=false"))


def _write_split(folder: Path, x, y, label: str) -> None:
    """``folder/<class>/ImageNNNNN.png`` for every image; a progress line every tenth."""
    from PIL import Image

    counts, step = Counter(), max(1, -(-len(x) // 10))
    for done, (img, c) in enumerate(zip(x, y.tolist()), 1):
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / str(c) / f"Image{counts[c]:05d}.png")
        counts[c] += 1
        if done % step == 0 or done == len(x):
            print(f"  {label}: {done:,}/{len(x):,} images ({100 * done // len(x)}%)", flush=True)


def from_keras(which: str, dest: Path) -> None:
    out = dest / KERAS_SETS[which]
    if out.exists():
        print(f"{out} is already there (it is only ever written whole); delete it to write it again")
        return
    try:
        import keras  # only this route needs Keras (and the venv)

        from common.data import to_grayscale_28
    except ImportError as err:
        raise UserError(
            f"the keras route needs the venv ({err}): run `make venv` once (or pip install -r requirements.lock), "
            f"then .venv/bin/python -m common.datasets keras {which}"
        ) from None
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, which).load_data()
    except Exception as err:  # no internet and nothing in ~/.keras/datasets yet
        raise UserError(
            f"keras.datasets.{which}.load_data() failed ({type(err).__name__}: {err}). It downloads once "
            "(internet needed) into ~/.keras/datasets; or use `python -m common.datasets fetch` for the study's data."
        ) from None

    writable_dir(dest, "--dest")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=dest))  # renamed into place when whole
    try:
        for split, x, y in (("Train", x_train, y_train), ("Test", x_test, y_test)):
            x = to_grayscale_28(x) if x.ndim == 4 else x  # CIFAR-10 arrives as (N, 32, 32, 3) RGB, MNIST (N, 28, 28)
            _write_split(tmp / split, x, y.reshape(-1), f"{out.name}/{split}")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            _remove(tmp)
    print(f"wrote {out}: {len(x_train):,} train / {len(x_test):,} test 28x28 gray PNGs")
    print(f"run the scripts on it with --dataset {out.name}" + ("" if dest == DATA_DIR else f" --data-dir {dest}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.datasets", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser(
        "fetch",
        help="the course's CIFAR10/ and MNIST/ into ./data, checked against the manifest",
        description=__doc__.split("\n\n")[2],  # the fetch paragraph above
    )
    f.add_argument("--url", default=os.environ.get("COURSE_DATA_URL", COURSE_URL), help="git remote (%(default)s)")
    f.add_argument(
        "--commit",
        default=os.environ.get("COURSE_DATA_COMMIT", COURSE_COMMIT),
        help="the commit to check out (%(default)s)",
    )
    f.add_argument("--manifest", type=Path, default=MANIFEST, help="SHA-256 per file (%(default)s)")
    f.add_argument("--dest", type=Path, default=DATA_DIR, help="where CIFAR10/ and MNIST/ go (%(default)s)")
    k = sub.add_parser(
        "keras",
        help="Keras' full CIFAR-10 or MNIST as data/CIFAR10_FULL or data/MNIST_FULL",
        description="\n\n".join(__doc__.split("\n\n")[3:]),  # the keras paragraphs above
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    k.add_argument("which", choices=sorted(KERAS_SETS))
    k.add_argument("--dest", type=Path, default=DATA_DIR, help="folder for <NAME>_FULL (%(default)s)")
    m = sub.add_parser("manifest", help="(maintainers) write the manifest of <root>/CIFAR10 and <root>/MNIST")
    m.add_argument("--root", type=Path, required=True, help="the folder holding CIFAR10/ and MNIST/")
    m.add_argument("--out", type=Path, default=MANIFEST, help="%(default)s")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args.dest, args.url, args.commit, args.manifest)
        elif args.command == "keras":
            from_keras(args.which, args.dest)
        else:
            print(f"{args.out}: {write_manifest(args.root, ['CIFAR10', 'MNIST'], args.out):,} files")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as err:  # e.g. a full disk while writing the files
        print(f"error: {err}. Make room there (or pass another --dest) and rerun.", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        # the truth, looked at: a second Ctrl-C during the clean-up can leave the temporary folder
        left = sorted(args.dest.glob(f"{TEMP_PREFIX}{os.getpid()}-*")) if args.command == "fetch" else []
        said = f"{left[0]} was left half-written (the next fetch removes it)" if left else "nothing half-written stays"
        print(f"\ninterrupted; {said}. Rerun the same command to start again.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
