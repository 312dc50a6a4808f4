"""The command line: output formats and one-line errors, through main() in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import cli, cli_env

from archspec import load_spec, spec_hash


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args)


def assert_user_error(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert fragment in done.stderr


def test_trace_prints_the_seed_shapes() -> None:
    done = run("trace", "d2l-resnet18", "--input-size", "1", "224", "224")
    assert done.returncode == 0, done.stderr
    shapes = [line.split("output shape:")[1].strip() for line in done.stdout.splitlines()]
    assert shapes == ["[1, 64, 56, 56]", "[1, 64, 56, 56]", "[1, 128, 28, 28]", "[1, 256, 14, 14]",
                      "[1, 512, 7, 7]", "[1, 512, 1, 1]", "[1, 512]", "[1, 10]"]  # fmt: skip


# `archspec ARGS` in a fresh process, then its peak RSS in KiB on stderr's last line (VmHWM: ru_maxrss would
# keep the high-water mark of the pytest process it was forked from, across exec).
PEAK_SCRIPT = """\
import sys
from archspec.cli import main
code = main(sys.argv[1:])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")), file=sys.stderr)
sys.exit(code)
"""


def test_trace_holds_no_activations_at_a_large_input(tiny_spec: Path) -> None:
    """At 1x4096x4096 the tiny spec's activations are 512 MiB a layer (2.8 GB peak when trace ran the model on
    real tensors); on the meta device only the interpreter and torch (about 300 MiB) remain. A subprocess: its
    peak memory is the point."""
    args = ["trace", str(tiny_spec), "--input-size", "1", "4096", "4096"]
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, *args], capture_output=True, text=True,
                          env=cli_env(), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "output shape: [1, 16, 2048, 2048]" in done.stdout
    peak_mib = int(done.stderr.splitlines()[-1]) / 1024
    assert peak_mib < 600, f"trace peaked at {peak_mib:.0f} MiB"


def test_summary_reads_mult_adds_in_the_right_unit() -> None:
    done = run("summary", "d2l-resnet18", "--depth", "1")
    assert done.returncode == 0, done.stderr
    assert "Total params: 11,178,378" in done.stdout
    assert "Units." not in done.stdout
    line = next(line for line in done.stdout.splitlines() if line.startswith("Total mult-adds"))
    assert line.startswith("Total mult-adds: 319,121,546 (319.12 M;")  # torchinfo's count at 1x96x96


def test_list_shows_presets_with_parameter_counts() -> None:
    done = run("list")
    assert done.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()[1:]}
    assert rows["d2l-resnet18"] == "11,178,378"
    assert rows["resnet152"] == "60,192,808"


def test_show_prints_loadable_canonical_yaml_and_hash() -> None:
    done = run("show", "resnet34")
    assert done.returncode == 0
    first, _, body = done.stdout.partition("\n")
    spec = load_spec("resnet34")
    assert first == f"# archspec spec hash: {spec_hash(spec)}"
    assert load_spec(body) == spec


def test_schema_is_json_schema_for_editors() -> None:
    done = run("schema")
    schema = json.loads(done.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    # required where the file does not `extends` another (tests/spec/test_json_schema.py: files that do)
    assert set(schema["$defs"]["ResNetSpec"]["required"]) >= {"name", "input", "stem", "block", "stages", "head"}
    assert "block" not in schema["$defs"]["StageSpec"]["required"]  # stages may inherit the spec's block
    assert schema["properties"]["stages"]["description"]


def test_validate_exit_codes(tmp_path: Path) -> None:
    assert run("validate", "d2l-resnet18", "resnet50").returncode == 0
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load((Path(__file__).parents[2] / "archspec/specs/resnet18.yaml").read_text())
    data["stages"][1]["stride"] = 3
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    done = run("validate", str(bad))
    assert_user_error(done, "stages[1].stride: must be 1 or 2, got 3")
    assert done.stderr.startswith(f"{bad}:")


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    assert_user_error(run("summary", "resnet18", "--input-size", "3", "0", "32"), "positive integer")
    assert_user_error(run("summary", "no-such-preset"), "no bundled spec of that name")
    assert_user_error(run("trace", str(tmp_path / "missing.yaml")), "cannot read")
    assert_user_error(run("frobnicate"), "invalid choice")
    assert_user_error(run("show", "resnet18", "--input-size", "3", "1", "1", "--bogus"), "unrecognized arguments")


def test_a_device_or_pipe_is_refused_without_reading_it_all() -> None:
    assert_user_error(run("validate", "/dev/zero"), "/dev/zero: file is over 1,048,576 bytes")


def test_set_values_go_through_the_same_strict_yaml_reader() -> None:
    assert_user_error(run("show", "resnet18", "--set", "stem={channels: 8, channels: 16}"), "duplicate key 'channels'")
    assert_user_error(run("show", "resnet18", "--set", "foo.bar=1"), "--set foo.bar=1: foo: unknown field 'foo'")
    assert_user_error(run("show", "resnet18", "--set", "output_stride=2"), "must be at least the stem's stride (4)")


def test_an_allocation_that_fails_inside_a_command_is_one_line_naming_its_size_and_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 22: a shape within the limits that the machine cannot hold ended in a 50-line traceback.
    import archspec.nn.summary

    torch_text = "[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory: you tried to allocate"
    failures = (MemoryError(), RuntimeError(f"{torch_text} 8589934592 bytes."))
    for failure in failures:

        def fail(*args: object, error: BaseException = failure, **kwargs: object) -> str:
            raise error

        monkeypatch.setattr(archspec.nn.summary, "summarize", fail)
        done = cli("summary", "resnet18", "--batch-size", "64")
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "summary: this machine could not allocate the memory for resnet18 (inference, batch 64 of 3x224x224" \
            in done.stderr  # fmt: skip
        assert "--max-memory-bytes 669MiB or less would have refused it" in done.stderr, done.stderr
    monkeypatch.setattr(archspec.nn.summary, "summarize", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError, match=r"^x$"):  # any other RuntimeError is a bug: its traceback stays
        cli("summary", "resnet18")
