"""The CPU's features, the settings chosen from them (oneDNN, bfloat16), and what the scripts print."""

import os

import pytest

from common import backend, cpu

EPYC = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 avx fma avx2 bmi2\n"
XEON = "model name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha1 sha2 crc32 atomics fphp asimdhp sve bf16\n"


@pytest.fixture
def machine(monkeypatch):
    """``machine(cpuinfo, arch)``: this process sees that CPU (Linux), with a clean environment."""

    def fake(text: str, arch: str = "x86_64"):
        monkeypatch.setattr(cpu.sys, "platform", "linux")
        monkeypatch.setattr(cpu, "_read", lambda path: text)
        monkeypatch.setattr(cpu.platform, "machine", lambda: arch)
        cpu.configure.cache_clear()
        monkeypatch.setattr(cpu, "_ONEDNN_SOURCE", ["default"])
        monkeypatch.delenv(cpu.ENV, raising=False)
        monkeypatch.setattr(cpu, "_tensorflow_loaded", lambda: False)
        cpu.info.cache_clear()

    yield fake
    cpu.info.cache_clear()


def test_features_are_read_and_summarized(machine):
    machine(EPYC)
    assert cpu.summary() == "AMD EPYC 7B13 (x86_64: AVX2)" and not cpu.bf16_hardware()
    machine(XEON)
    assert cpu.summary() == "Intel(R) Xeon(R) Platinum (x86_64: AVX2, AVX-512, AVX512-BF16, AMX)"
    assert cpu.bf16_hardware() and cpu.fast_precision() == "mixed_bfloat16"
    machine(GRAVITON, "aarch64")
    assert "aarch64: NEON, SVE, BF16" in cpu.summary() and not cpu.is_x86() and cpu.bf16_hardware()


def test_onednn_is_turned_on_only_where_tensorflow_leaves_it_off(machine, monkeypatch):
    machine(EPYC)  # AVX2 only: TensorFlow's default is off, so we turn it on
    cpu.configure()
    assert os.environ[cpu.ENV] == "1" and cpu._ONEDNN_SOURCE == ["set"]
    machine(XEON)  # TensorFlow's own default is on: nothing to do
    cpu.configure()
    assert cpu.ENV not in os.environ
    machine(GRAVITON, "aarch64")  # not x86: TensorFlow's choice stands
    cpu.configure()
    assert cpu.ENV not in os.environ
    machine(EPYC)
    monkeypatch.setenv(cpu.ENV, "0")  # the user's choice stands
    cpu.configure()
    assert os.environ[cpu.ENV] == "0" and cpu._ONEDNN_SOURCE == ["user"]


def test_bfloat16_without_hardware_warns_with_the_measured_factor_and_fast_keeps_float32(machine):
    machine(EPYC)
    assert cpu.fast_precision() == "float32"
    said = []
    backend.set_precision("mixed_bfloat16", log=said.append)
    backend.set_precision("float32")
    assert len(said) == 1 and "no bfloat16 hardware" in said[0] and "0.18x" in said[0] and "AMD EPYC" in said[0]
    machine(XEON)
    said.clear()
    backend.set_precision("mixed_bfloat16", log=said.append)
    backend.set_precision("float32")
    assert said == []


def test_the_banner_and_every_result_name_the_cpu_and_onednn():
    from common import io

    assert f"CPU: {cpu.summary()}" in backend.banner() and "oneDNN o" in backend.banner()
    v = io.versions()
    assert v["cpu"] == cpu.summary() and isinstance(v["onednn"], bool)


def test_a_result_made_beside_other_workers_says_so_beside_its_cpu(monkeypatch):
    from common import cli, io
    from common.report import stats

    monkeypatch.delenv(cli.WORKER_ENV, raising=False)
    alone = io.versions()
    assert "workers" not in alone and stats.cpu({"versions": alone}) == stats.short_cpu(cpu.summary())
    monkeypatch.setenv(cli.WORKER_ENV, "1/2")  # as --workers 2 starts a worker
    shared = io.versions()
    assert shared["workers"] == 2 and stats.cpu({"versions": shared}).endswith(", shared by 2 runs")
