"""The RegNet generator (archspec/spec/regnet.py), the bottleneck's group_width and RegNet's squeeze-excite.

Stage widths, depths and group widths are checked against torchvision's `BlockParams.from_init_params` (written
out below from torchvision 0.29.1, as its fixtures in tests/weights record the same stages by their shapes);
bad designs are one located line naming the field and the nearest valid value.
"""

from __future__ import annotations

import pytest

from archspec import SpecError, load_spec, lower
from archspec.arch.primitives import SqueezeExcite
from archspec.nn.build import build
from archspec.spec.io import dump_spec, spec_hash

BASE = """\
name: r
input: {channels: 3, height: 224, width: 224}
stem: {kind: conv, channels: 32, kernel_size: 3, stride: 2}
block: {kind: bottleneck, expansion: 1}
stages:
  regnet: {REGNET}
head: {num_classes: 10}
"""

# torchvision 0.29.1: [(width, depth, group width) of each stage] from BlockParams.from_init_params
TORCHVISION_STAGES = {
    "regnet_x_400mf": [(32, 1, 16), (64, 2, 16), (160, 7, 16), (400, 12, 16)],
    "regnet_x_8gf": [(80, 2, 80), (240, 5, 120), (720, 15, 120), (1920, 1, 120)],
    "regnet_y_800mf": [(64, 1, 16), (144, 3, 16), (320, 8, 16), (784, 2, 16)],
    "regnet_y_8gf": [(224, 2, 56), (448, 4, 56), (896, 10, 56), (2016, 1, 56)],
    "regnet_y_128gf": [(528, 2, 264), (1056, 7, 264), (2904, 17, 264), (7392, 1, 264)],
}
PYCLS_STAGES = {  # pycls's published networks: the same block widths, rounded to the group width as pycls does
    "regnet_x_400mf_pycls": [(32, 1, 16), (64, 2, 16), (160, 7, 16), (384, 12, 16)],
    "regnet_y_800mf_pycls": [(64, 1, 16), (128, 3, 16), (320, 8, 16), (768, 2, 16)],
    "regnet_y_8gf_pycls": [(168, 2, 56), (448, 4, 56), (896, 10, 56), (2016, 1, 56)],
}


def regnet(design: str) -> str:
    return BASE.replace("{REGNET}", "{" + design + "}")


def stages(name: str) -> list[tuple[int, int, int | None]]:
    spec = load_spec(name)
    return [(s.channels, s.blocks, getattr(s.block, "group_width", None)) for s in spec.stages]


@pytest.mark.parametrize("name", sorted({**TORCHVISION_STAGES, **PYCLS_STAGES}))
def test_the_generator_gives_the_reference_stages(name: str) -> None:
    assert stages(name) == {**TORCHVISION_STAGES, **PYCLS_STAGES}[name]
    assert all(stage.stride == 2 for stage in load_spec(name).stages)


def test_the_generated_spec_is_the_explicit_one() -> None:
    """`archspec show` prints the stages; read back, they give the same spec and hash as the generator."""
    spec = load_spec("regnet_x_8gf")
    assert "regnet:" not in dump_spec(
        spec
    ) and "- {channels: 240, blocks: 5, stride: 2, downsample: null}" in dump_spec(spec)
    again = load_spec(dump_spec(spec))
    assert again == spec and spec_hash(again) == spec_hash(spec)
    assert spec.block.group_width == 120 and spec.stages[0].block.group_width == 80  # type: ignore[union-attr]
    assert dump_spec(spec).count("group_width") == 2  # the block's, and stage 1's own (cut to its width)


def test_an_extends_file_changes_one_design_number() -> None:
    spec = load_spec("{extends: regnet_x_400mf, name: deeper, stages: {regnet: {depth: 25}}}")
    assert sum(s.blocks for s in spec.stages) == 25
    assert [s.channels for s in spec.stages][:2] == [32, 64]


@pytest.mark.parametrize(("directive", "instead"), [("width: 0.5", "w0 and wa"), ("depth: 2", "depth")])
def test_width_and_depth_refuse_a_generator_rather_than_do_nothing(directive: str, instead: str) -> None:
    with pytest.raises(SpecError, match=rf"<string>:1:\d+: {directive.split(':')[0]}: does not apply to generated "
                       rf"stages \(stages: {{regnet: \.\.\.}}\); change the design's {instead} instead"):  # fmt: skip
        load_spec(f"{{extends: regnet_x_400mf, name: w, {directive}}}")


def test_group_width_sets_the_3x3_groups() -> None:
    plan = lower(load_spec("regnet_x_400mf"))
    convs = {path: layer.op for path, layer in plan.layers() if path.endswith("main.conv2")}
    assert convs["stage4.0.main.conv2"].groups == 400 // 16  # type: ignore[union-attr]
    assert convs["stage1.0.main.conv2"].groups == 32 // 16  # type: ignore[union-attr]


def test_regnet_y_gate_sits_after_the_3x3_with_a_quarter_of_the_block_input() -> None:
    plan = lower(load_spec("regnet_y_400mf"))
    main = [layer for layer in plan.stages[1].blocks[0].main]
    names = [layer.name for layer in main]
    assert names.index("squeeze_excite") == names.index("act2") + 1 < names.index("conv3")
    gate = main[names.index("squeeze_excite")].op
    assert isinstance(gate, SqueezeExcite)
    assert (gate.channels, gate.hidden) == (104, 48 // 4)  # the block's input is stage 1's 48 channels
    built = dict(build(load_spec("regnet_y_400mf")).named_modules())
    assert built["stage2.0.main.squeeze_excite"].fc1.out_channels == 12


@pytest.mark.parametrize(
    ("design", "message"),
    [
        ("depth: 0, w0: 24, wa: 24.48, wm: 2.54, group_width: 16",
         "6:12: stages.regnet.depth: must be at least 1 (blocks in all), got 0; nearest valid: 1"),
        ("depth: 22, w0: 20, wa: 24.48, wm: 2.54, group_width: 16",
         "stages.regnet.w0: must be a positive multiple of 8, got 20; nearest valid: 16 or 24"),
        ("depth: 22, w0: 26, wa: 24.48, wm: 2.54, group_width: 16",
         "stages.regnet.w0: must be a positive multiple of 8, got 26; nearest valid: 24"),
        ("depth: 22, w0: 24, wa: 24.48, wm: 1.0, group_width: 16",
         "stages.regnet.wm: must be greater than 1 (stage widths grow by powers of it), got 1.0; nearest valid"),
        ("depth: 22, w0: 24, wa: -1, wm: 2.54, group_width: 16", "stages.regnet.wa: must be at least 0"),
        ("depth: 22, w0: 24, wa: 24.48, wm: 2.54, group_width: 512",
         "stages.regnet.group_width: 512 divides no stage: the widest bottleneck is 392 channels; nearest valid: 392"),
        ("depth: 22, w0: 24, wa: 24.48, wm: 2.54, group_width: 16, rounding: tv",
         "stages.regnet.rounding: must be 'pycls' or 'torchvision'"),
        ("depth: 22, w0: 24, wa: 24.48, wm: 2.54", "stages.regnet.group_width: Field required"),
        ("depth: 22, w0: 24, wa: 24.48, wm: 2.54, group_width: 16, groups: 2", "stages.regnet.groups: Extra inputs"),
    ],
)  # fmt: skip
def test_a_design_that_gives_no_network_is_one_located_line(design: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(regnet(design))
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert text.startswith("<string>:6:")  # the line of the generator


def test_the_generator_needs_a_bottleneck_block() -> None:
    text = regnet("depth: 22, w0: 24, wa: 24.48, wm: 2.54, group_width: 16").replace(
        "{kind: bottleneck, expansion: 1}", "{kind: basic}"
    )
    with pytest.raises(SpecError, match=r"block\.kind: the regnet generator needs a bottleneck-shaped block"):
        load_spec(text)


def test_stages_as_a_mapping_must_name_a_generator() -> None:
    with pytest.raises(
        SpecError,
        match=r"stages: must be a valid list of stages, or a generator mapping \(regnet\); got a mapping of anynet",
    ):
        load_spec(BASE.replace("regnet: {REGNET}", "anynet: {}"))


def test_a_group_width_that_does_not_divide_the_stage_names_the_nearest_channels() -> None:
    text = (
        "{extends: resnet50, name: g, block: {group_width: 24}, stages: [{channels: 256, blocks: 1}, "
        "{channels: 520, blocks: 1, stride: 2}]}"
    )
    with pytest.raises(SpecError, match=r"stages\[0\]\.channels: bottleneck width \(channels / expansion = 64\) is "
                       r"not divisible by group_width \(24\); nearest valid channels: 192 or 288"):  # fmt: skip
        load_spec(text)


def test_group_width_and_groups_are_one_or_the_other() -> None:
    with pytest.raises(SpecError, match=r"block\.group_width: set either group_width"):
        load_spec("{extends: resnext50_32x4d, name: both, block: {group_width: 4}}")


def test_a_gate_after_the_3x3_needs_a_bottleneck() -> None:
    with pytest.raises(SpecError, match=r"block\.squeeze_excite\.position: after_3x3 needs a bottleneck"):
        load_spec("{extends: resnet18, name: g, block: {squeeze_excite: {position: after_3x3}}}")
