"""The YAML reader's limits and words: nesting depth, FIFOs and long names, errors in the user's terms, and
quotes of user input clipped to one short line."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from helpers import cli

from archspec import SpecError, load_spec, preset_names
from archspec.config.diagnostics import clip, quote
from archspec.config.document import MAX_DEPTH, parse
from archspec.recipe.schema import load_recipe


def one_line_error(*args: str | Path) -> str:
    done = cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 5000 + "]" * 5000, "a: " + "{b: " * 3000 + "1" + "}" * 3000, "&a [*a]", "a: &x {b: *x}"],
    ids=["deep-list", "deep-map", "self-alias-list", "self-alias-map"],
)
def test_deep_or_self_referencing_yaml_is_a_located_error(text: str) -> None:
    with pytest.raises(SpecError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse(text, "deep.yaml")


def test_deep_yaml_in_a_spec_a_recipe_and_a_set_value(tmp_path: Path) -> None:
    deep = "[" * 2000 + "]" * 2000
    path = tmp_path / "deep.yaml"
    path.write_text(f"name: x\ninput: {deep}\n")
    assert "nested deeper" in one_line_error("validate", path)
    assert "nested deeper" in one_line_error("show", "resnet18", "--set", f"head={deep}")
    with pytest.raises(SpecError, match="nested deeper"):
        load_recipe(f"{{name: r, epochs: 1, batch_size: 8, optimizer: {deep}}}")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    result: dict[str, str] = {}
    worker = threading.Thread(target=lambda: result.update(err=one_line_error("validate", fifo)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert "a FIFO; expected a regular file" in result["err"]
    assert "a folder" in one_line_error("show", str(tmp_path) + "/")


def test_names_and_paths_over_255_bytes_are_one_line_errors(tmp_path: Path) -> None:
    long_name = "x" * 300
    assert "no such file" in one_line_error("show", long_name)
    assert "File name too long" in one_line_error("show", tmp_path / f"{long_name}.yaml")
    err = one_line_error("show", long_name)
    listed = len(", ".join(preset_names()))  # the error lists the bundled presets
    assert long_name not in err and len(err) < 300 + listed  # the name is quoted clipped


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name: x\ninput:\n  channels: 1\n height: 28\n", "indented differently from the mapping"),
        ("name: x\ninput:\n\tchannels: 1\n", "a tab character: YAML indents with spaces only"),
        ("name: x\ninput: {channels: 1\nstem: {}\n", "'{' mapping is not closed"),
        ("name: x: y\n", "a ':' where a plain value was expected"),
        ("name: 'x\n", "a quote is opened and never closed"),
    ],
)
def test_yaml_syntax_errors_are_said_in_the_users_terms(text: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(text, "mine.yaml")
    message = str(info.value)
    assert message.startswith("mine.yaml:") and words in message
    assert "<block end>" not in message and "simple key" not in message


def test_set_values_with_newlines_or_huge_values_are_quoted_on_one_clipped_line() -> None:
    err = one_line_error("show", "resnet18", "--set", "head.num_classes=1\n2\n3")
    assert "\\n" in err
    huge = "x" * 100_000
    err = one_line_error("show", "resnet18", "--set", f"name={huge}")
    assert len(err) < 500 and "chars)" in err
    assert clip("a\nb") == "a\\nb" and len(quote("y" * 10_000)) < 80


def test_a_quoted_number_hints_at_the_quotes() -> None:
    with pytest.raises(SpecError, match=r"stem\.channels: must be a valid integer, got '64' \(quotes make it a string"):
        load_spec("resnet18", ["stem.channels='64'"])


def test_control_characters_in_keys_and_values_are_escaped_not_printed() -> None:
    # str.splitlines() (and many terminals) break lines at \x1c-\x1e, \x85, \u2028 as well as at \n
    err = one_line_error("show", "resnet18", "--set", "width=\x1c`\x85V")
    assert "\x1c" not in err and "\x85" not in err and "\\x1c" in err
    err = one_line_error("show", '{extends: resnet18, "\\x1eE\\u2028": 1}')
    assert "\x1e" not in err and "\u2028" not in err and "unknown field" in err
