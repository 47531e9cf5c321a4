"""`make data` (python -m common.datasets fetch) against a small local git repository standing in for the
course's, and the Keras route on small stand-in arrays. Offline; everything is written under tmp_path."""

import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common import data, datasets

REPO = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((28, 28), value, dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A git repository in the course's layout (2 classes x 2 images per split of CIFAR10/ and MNIST/) plus
    a folder and a file that must never reach ./data; commit ``good`` and its manifest, then commit ``bad``
    with one byte of one CIFAR10 image changed."""
    root = tmp_path_factory.mktemp("remote")
    repo = root / "course"
    for k, name in enumerate(["CIFAR10", "MNIST", "Cells"]):
        for split in ("Train", "Test"):
            for c in (0, 1):
                for i in (0, 1):
                    _png(repo / name / split / str(c) / f"Image{i:05d}.png", 40 * k + 10 * c + i)
    (repo / "README.md").write_text("the course\n")
    subprocess.run([*GIT, "init", "--quiet", str(repo)], check=True)
    subprocess.run([*GIT, "-C", str(repo), "config", "uploadpack.allowFilter", "true"], check=True)  # as GitHub
    subprocess.run([*GIT, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "--quiet", "-m", "good"], check=True)
    good = subprocess.run([*GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    manifest = root / "manifest.sha256"
    assert datasets.write_manifest(repo, ["CIFAR10", "MNIST"], manifest) == 16
    bad_file = repo / "CIFAR10" / "Train" / "1" / "Image00001.png"
    raw = bytearray(bad_file.read_bytes())
    raw[-20] ^= 1  # one bit of the image's data
    bad_file.write_bytes(bytes(raw))
    subprocess.run([*GIT, "-C", str(repo), "commit", "--quiet", "-am", "bad"], check=True)
    bad = subprocess.run([*GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return types.SimpleNamespace(
        url=repo.as_uri(), commit=good.stdout.strip(), bad_commit=bad.stdout.strip(), manifest=manifest
    )


def fetch(capsys, dest: Path, remote, **flags):
    """``python -m common.datasets fetch`` in this process: (exit code, stdout, stderr)."""
    flags = {"url": remote.url, "commit": remote.commit, "manifest": remote.manifest, "dest": dest, **flags}
    argv = ["fetch"] + [str(a) for k, v in flags.items() for a in (f"--{k}", v)]
    rc = datasets.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def files_under(folder: Path) -> list[str]:
    return sorted(f.relative_to(folder).as_posix() for f in folder.rglob("*") if f.is_file())


def test_fetch_writes_exactly_the_manifests_files(remote, tmp_path, capsys, monkeypatch):
    dest = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_URL", remote.url)  # the environment overrides the defaults, as flags do
    monkeypatch.setenv("COURSE_DATA_COMMIT", remote.commit)
    blobs = []  # the file contents git downloaded, listed before the temporary clone is removed
    remove = datasets._remove

    def list_blobs_then_remove(path):
        listing = subprocess.run(
            ["git", "-C", str(path), "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname)"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        blobs.extend(line.split()[1] for line in listing.stdout.splitlines() if line.startswith("blob"))
        remove(path)

    monkeypatch.setattr(datasets, "_remove", list_blobs_then_remove)
    rc = datasets.main(["fetch", "--manifest", str(remote.manifest), "--dest", str(dest)])
    out = capsys.readouterr().out
    assert rc == 0
    assert files_under(dest) == sorted(datasets.read_manifest(remote.manifest))  # no Cells/, README, .git, temp
    # Only the two folders' files were downloaded at all (4 distinct images each), not Cells/ or README.md.
    wanted = subprocess.run(
        ["git", "hash-object", *[str(f) for f in dest.rglob("*.png")]], capture_output=True, text=True, check=True
    )
    assert sorted(blobs) == sorted(set(wanted.stdout.split())) and len(blobs) == 8
    assert sorted(p.name for p in dest.iterdir()) == ["CIFAR10", "MNIST"]
    assert "CIFAR10 (8 files)" in out and "MNIST (8 files)" in out and "all 16 files" in out
    # what the scripts then read
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    d = data.load_dataset("MNIST", dest, allow_download=False)
    assert d.x_train.shape == (4, 28, 28) and d.y_test.tolist() == [0, 0, 1, 1]


def test_a_changed_file_in_the_remote_is_caught_and_nothing_written(remote, tmp_path, capsys):
    dest = tmp_path / "data"
    rc, out, err = fetch(capsys, dest, remote, commit=remote.bad_commit)
    assert rc == 2
    assert "CIFAR10/ from" in err and "different: CIFAR10/Train/1/Image00001.png" in err
    assert remote.url in err and "Manual route" in err
    assert list(dest.iterdir()) == []  # no CIFAR10, no MNIST (checked before either moves), no temp folder


def test_an_unreachable_remote_fails_fast_naming_url_and_manual_route(remote, tmp_path, capsys):
    dest = tmp_path / "data"
    for url in ("https://127.0.0.1:9/x.git", (tmp_path / "nowhere.git").as_uri()):
        start = time.monotonic()
        rc, out, err = fetch(capsys, dest, remote, url=url)
        assert rc == 2 and time.monotonic() - start < 10
        assert url in err and "Manual route" in err and "--data-dir" in err
        assert not dest.exists()
    # The course's own URL gets the GitHub zip as its manual route.
    manual = datasets._manual_route(datasets.COURSE_URL, "abc", dest, ["CIFAR10", "MNIST"])
    assert "https://github.com/cicconet/MachineLearning/archive/abc.zip" in manual


def test_a_remote_that_never_answers_times_out(remote, tmp_path, capsys, monkeypatch):
    """A server that accepts the connection and then says nothing (a black-holing firewall, a captive
    proxy): the probe's timeout ends it, and git's helper processes with it."""
    monkeypatch.setattr(datasets, "PROBE_TIMEOUT_S", 1)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # the kernel completes the connection; nobody ever reads or answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}/x.git"
        start = time.monotonic()
        rc, out, err = fetch(capsys, tmp_path / "data", remote, url=url)
    assert rc == 2 and time.monotonic() - start < 5
    assert "no answer within 1 s" in err and url in err


def test_verified_data_is_left_alone_and_changed_data_reported(remote, tmp_path, capsys):
    dest = tmp_path / "data"
    assert fetch(capsys, dest, remote)[0] == 0
    stamps = {f: f.stat().st_mtime_ns for f in dest.rglob("*")}
    # An unreachable URL proves that nothing is fetched: the data is verified in place.
    rc, out, err = fetch(capsys, dest, remote, url="https://127.0.0.1:9/x.git")
    assert rc == 0 and "verified, all 16 files match" in out and "nothing to fetch" in out
    assert {f: f.stat().st_mtime_ns for f in dest.rglob("*")} == stamps

    changed = dest / "MNIST" / "Test" / "0" / "Image00001.png"
    changed.write_bytes(changed.read_bytes() + b"x")
    (dest / "MNIST" / "Test" / "0" / "notes.txt").write_text("mine")
    (dest / "MNIST" / "Train" / "1" / "Image00000.png").unlink()
    (dest / "MNIST" / ".DS_Store").write_bytes(b"")  # what macOS adds to a copied folder: not a difference
    rc, out, err = fetch(capsys, dest, remote)
    assert rc == 2 and "differs from" in err and "(3 files)" in err
    for line in (
        "missing:   MNIST/Train/1/Image00000.png",
        "extra:     MNIST/Test/0/notes.txt",
        "different: MNIST/Test/0/Image00001.png",
    ):
        assert line in err
    assert changed.read_bytes().endswith(b"x")  # the user's folder is never overwritten


def test_the_fetch_route_needs_only_the_standard_library():
    """`make data` runs with the system python before the venv exists."""
    probe = "import sys, common.datasets; print(sorted({'numpy', 'PIL', 'keras'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_usage_errors_exit_2(capsys):
    for argv in ([], ["fetch", "--nope"], ["keras", "imagenet"]):
        with pytest.raises(SystemExit) as exit_info:
            datasets.main(argv)
        assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        datasets.main(["keras", "--help"])
    assert exit_info.value.code == 0
    assert "0.299 R + 0.587 G + 0.114 B" in capsys.readouterr().out


# --- the Keras route ---------------------------------------------------------------------------------


@pytest.fixture
def fake_keras(monkeypatch):
    """A stand-in ``keras`` module: ``keras.datasets.{cifar10,mnist}.load_data()`` give small arrays shaped
    as Keras' (CIFAR-10: (N, 32, 32, 3) RGB with (N, 1) labels; MNIST: (N, 28, 28) with (N,) labels)."""
    rng = np.random.default_rng(0)

    def arrays(n, shape, label_shape):
        return rng.integers(0, 256, (n, *shape), dtype=np.uint8), (np.arange(n) % 10).reshape(label_shape(n))

    sets = {
        "cifar10": (arrays(30, (32, 32, 3), lambda n: (n, 1)), arrays(20, (32, 32, 3), lambda n: (n, 1))),
        "mnist": (arrays(30, (28, 28), lambda n: (n,)), arrays(10, (28, 28), lambda n: (n,))),
    }
    keras = types.SimpleNamespace(
        datasets=types.SimpleNamespace(**{k: types.SimpleNamespace(load_data=lambda v=v: v) for k, v in sets.items()})
    )
    monkeypatch.setitem(sys.modules, "keras", keras)
    return sets


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L" and img.size == (28, 28)
        return np.asarray(img)


@pytest.mark.parametrize("which,name", [("cifar10", "CIFAR10_FULL"), ("mnist", "MNIST_FULL")])
def test_keras_route_writes_the_whole_set_converted(fake_keras, tmp_path, capsys, monkeypatch, which, name):
    dest = tmp_path / "data"
    assert datasets.main(["keras", which, "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert out.count(f"{name}/Train: ") == 10 and f"{name}/Train: 3/30 images (10%)" in out and "(100%)" in out
    assert sorted(p.name for p in dest.iterdir()) == [name]  # renamed into place; no temporary folder left
    for split, (x, y) in zip(("Train", "Test"), fake_keras[which]):
        y = y.reshape(-1)
        want = data.to_grayscale_28(x) if x.ndim == 4 else x
        for c in range(10):
            files = sorted((dest / name / split / str(c)).iterdir())
            assert [f.name for f in files] == [f"Image{i:05d}.png" for i in range(np.sum(y == c))]
            for f, i in zip(files, np.flatnonzero(y == c)):  # a class's images in Keras' order
                assert np.array_equal(_read(f), want[i])
    # What `python cifar_v2.py --dataset CIFAR10_FULL --data-dir <dest>` loads: the folders 0..9 named as the
    # course's own set's (Keras' CIFAR-10 labels 0..9 are airplane..truck, in the course's order; MNIST's digits)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    d = data.load_dataset(name, dest, allow_download=False)
    cifar10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    names = {"cifar10": cifar10, "mnist": tuple(map(str, range(10)))}[which]
    assert len(d.x_train) == len(fake_keras[which][0][0]) and d.class_names == names == data.CLASS_NAMES[which.upper()]
    # A rerun leaves the finished set alone.
    stamp = (dest / name).stat().st_mtime_ns
    assert datasets.main(["keras", which, "--dest", str(dest)]) == 0
    assert "already there" in capsys.readouterr().out and (dest / name).stat().st_mtime_ns == stamp


def test_keras_route_never_leaves_a_half_written_set(fake_keras, tmp_path, capsys, monkeypatch):
    write = datasets._write_split

    def fail_on_test(folder, *args):
        if folder.name == "Test":
            raise OSError("disk full")
        write(folder, *args)

    monkeypatch.setattr(datasets, "_write_split", fail_on_test)
    dest = tmp_path / "data"
    assert datasets.main(["keras", "cifar10", "--dest", str(dest)]) == 2
    assert "disk full" in capsys.readouterr().err and list(dest.iterdir()) == []


def test_keras_route_offline_says_what_to_do(fake_keras, tmp_path, capsys):
    def offline():
        raise OSError("URL fetch failure")

    sys.modules["keras"].datasets.mnist.load_data = offline
    assert datasets.main(["keras", "mnist", "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "keras.datasets.mnist.load_data() failed" in err and "common.datasets fetch" in err
    assert list(tmp_path.iterdir()) == []
