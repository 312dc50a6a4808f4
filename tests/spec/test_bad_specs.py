"""The bad-spec corpus: every file gives one SpecError naming the file (and the line where it has one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli

from archspec import SpecError, load_spec

CORPUS = Path(__file__).parent / "bad_specs"

# file -> (line the error must name, or None where the file has none; a fragment of the message)
EXPECTED: dict[str, tuple[int | None, str]] = {
    "alias_bomb.yaml": (1, "alias bomb"),
    "bad_name.yaml": (1, "name: must match pattern"),
    "binary_garbage.yaml": (1, "not UTF-8"),
    "bool_for_int.yaml": (2, "input.channels: must be a valid integer, got True"),
    "bottleneck_indivisible.yaml": (7, "stages[1].channels: bottleneck needs channels divisible by expansion (4)"),
    "comment_only.yaml": (None, "empty spec"),
    "convnext_batch_channels_last.yaml": (3, "block.channels_last: a channels-last block normalises with layer norm"),
    "convnext_downsample_dilated.yaml": (1, "stages[2].downsample: output_stride 8 keeps this stage at stride 1"),
    "convnext_downsample_stride_one.yaml": (5, "stages[1].downsample: a stride-1 stage has nothing to downsample"),
    "convnext_layer_scale_zero_init.yaml": (5, "block.layer_scale: with zero_init the branch already starts at zero"),
    "complex_key.yaml": (1, "mapping keys must be plain scalars"),
    "dropout_one.yaml": (7, "head.dropout: must be less than 1"),
    "duplicate_key.yaml": (8, "duplicate key 'stem'"),
    "empty.yaml": (None, "empty spec"),
    "empty_stages.yaml": (5, "stages: must have at least 1 item"),
    "float_channels.yaml": (3, "stem.channels: must be a valid integer"),
    "latin1_bytes.yaml": (1, "not UTF-8"),
    "missing_head.yaml": (1, "head: required field is missing"),
    "multi_document.yaml": (2, "single document"),
    "negative_channels.yaml": (7, "stages[1].channels: must be greater than 0, got -128"),
    "nul_byte.yaml": (1, "control character"),
    "python_name_tag.yaml": (1, "unsupported YAML tag '!!python/name:os.system'"),
    "python_tag.yaml": (2, "unsupported YAML tag '!!python/object/apply:os.system'"),
    "shrink_pool.yaml": (7, "stem.pool: feature map shrinks below 1x1"),
    "shrink_stem.yaml": (3, "stem.kernel_size: feature map shrinks below 1x1"),
    "stride_three.yaml": (8, "stages[2].stride: must be 1 or 2, got 3"),
    "syntax_unclosed_flow.yaml": (3, "invalid YAML"),
    "tab_indent.yaml": (3, "invalid YAML"),
    "top_level_list.yaml": (1, "must be a mapping"),
    "top_level_scalar.yaml": (1, "must be a mapping"),
    "unknown_block_kind.yaml": (4, "block.kind: unknown block kind 'botleneck'; choose from basic, bottleneck, preact"),
    "unknown_field.yaml": (6, "unknown field 'chanels'; did you mean 'channels'?"),
    "unknown_top_field.yaml": (8, "unknown field 'optimizer'"),
    "wrong_type_channels.yaml": (3, "stem.channels: must be a valid integer"),
    "wrong_type_stages.yaml": (5, "stages: must be a valid list"),
    "zero_blocks.yaml": (6, "stages[0].blocks: must be greater than 0, got 0"),
    "zero_classes.yaml": (7, "head.num_classes: must be greater than 0, got 0"),
}


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_raises_located_spec_error(name: str) -> None:
    line, fragment = EXPECTED[name]
    path = CORPUS / name
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert fragment in message
    prefix = f"{path}:{line}:" if line is not None else f"{path}:"
    assert message.startswith(prefix), message


def test_cli_reports_every_bad_file_in_one_line_each() -> None:
    files = [str(CORPUS / name) for name in sorted(EXPECTED)]
    done = cli("validate", "d2l-resnet18", *files)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == len(files)
    for line, path in zip(lines, files, strict=True):
        assert line.startswith(path)
    assert done.stdout.startswith("ok  d2l-resnet18")
