"""Sweep files: schema, path checks against the spec and recipe schemas, [*] expansion, located errors,
and the step from sampled values to a candidate (no training here: fast)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from helpers import cli
from sweepfiles import tiny_sweep

from archspec.arch.complexity import complexity
from archspec.arch.validate import load_spec
from archspec.cli import main
from archspec.config.document import parse
from archspec.errors import ArchspecError, SpecError
from archspec.recipe.schema import split_overrides
from archspec.search.candidate import build_candidate, suggest, value_text, violations
from archspec.search.leaderboard import pareto_front
from archspec.search.space import ResolvedSweep, load_sweep
from archspec.search.storage import display_url, driver_url, without_password

AROUND_FASHION = """\
name: around
spec: fashion-resnet
recipe: fashion-best
overrides: [recipe.epochs=1, width=0.5]
space:
  width: {float: [0.5, 1.0], step: 0.25}
  stages[*].blocks: {int: [1, 3]}
  block.squeeze_excite: {choice: [null, {ratio: 0.25}]}
  recipe.optimizer.lr: {log: [0.001, 0.01]}
constraints: {max_macs: 12e6, max_params: 1_000_000}
n_trials: 20
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_space_paths_expand_and_the_resolved_sweep_round_trips(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, AROUND_FASHION))
    names = [axis.name for axis in sweep.axes]
    assert names == ["width", "stages[0].blocks", "stages[1].blocks", "stages[2].blocks", "block.squeeze_excite",
                     "recipe.optimizer.lr"]  # fmt: skip
    assert [axis.target for axis in sweep.axes][-1] == "recipe"
    assert sweep.axes[-1].path == ("optimizer", "lr")
    assert sweep.settings.constraints.max_macs == 12_000_000  # "12e6": PyYAML reads it as text
    assert sweep.recipe_data["epochs"] == 1  # the fixed overrides are in the resolved base
    assert sweep.spec_data["stem"]["channels"] == 16  # width=0.5 applied once, to the base
    again = ResolvedSweep.from_json(json.loads(json.dumps(sweep.to_json())), "stored")
    assert again.axes == sweep.axes
    assert again.fingerprint() == sweep.fingerprint()
    bigger = load_sweep(write(tmp_path, AROUND_FASHION.replace("n_trials: 20", "n_trials: 40"), "b.yaml"))
    assert bigger.fingerprint() == sweep.fingerprint()  # the budget is not what makes a sweep
    other = load_sweep(write(tmp_path, AROUND_FASHION.replace("[1, 3]", "[1, 2]"), "c.yaml"))
    assert other.fingerprint() != sweep.fingerprint()


def test_the_base_may_be_a_file_next_to_the_sweep_or_inline(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "base.yaml").write_text("extends: fashion-resnet\nname: base\nwidth: 0.5\n")
    sweep = load_sweep(write(tmp_path, AROUND_FASHION.replace("spec: fashion-resnet", "spec: specs/base.yaml")))
    assert sweep.spec_data["name"] == "base"
    assert sweep.spec_data["stages"][2]["channels"] == 32  # 128 x 0.5 (file) x 0.5 (overrides)
    inline = load_sweep(tiny_sweep(tmp_path))
    assert inline.spec_data["name"] == "tiny"


@pytest.mark.parametrize(
    ("change", "location", "fragment"),
    [
        (
            ("stages[*].blocks:", "stages[*].blockz:"),
            ":7:3:",
            "no field 'blockz'; did you mean 'block'?; fields there: channels, blocks",
        ),
        (("[1, 3]", "[3, 1]"), ":7:22:", "low (3) is above high (1)"),
        (("{log: [0.001, 0.01]}", "{log: [0, 0.01]}"), ":9:31:", "a log range needs low > 0"),
        (("step: 0.25", "step: 0.3"), ":6:30:", "not a multiple of step 0.3"),
        (("{int: [1, 3]}", "{int: [1, 3], choice: [1]}"), ":7:3:", "exactly one of int, float, log, choice"),
        (("{ratio: 0.25}]", "null]"), ":8:41:", "repeats choice None"),
        (("width: {float", "name: {float"), ":6:3:", "name cannot be swept"),
        (("stages[*].blocks", "stages[7].blocks"), ":7:3:", "stages has 3 items (indices 0-2); no [7]"),
        (("stages[*].blocks", "stem[*].channels"), ":7:3:", "stem is not a list"),
        (("recipe.optimizer.lr", "recipe.optimiser.lr"), ":9:3:", "no field 'optimiser'"),
        (("spec: fashion-resnet", "spec: fashion-resnot"), ":2:1:", "unknown spec 'fashion-resnot'; choose from"),
        (("spec: fashion-resnet", "spec: missing.yaml"), ":2:1:", "relative to the sweep file"),
        (("n_trials: 20", "n_trials: 0"), ":11:1:", "n_trials"),
        (("n_trials: 20", "n_trials: 20\nfamily: depth"), ":12:1:", "must be a space entry"),
        (
            ("n_trials: 20", "n_trials: 20\nobjectives: [accuracy, macs]\npruner: {kind: hyperband}"),
            ":13:1:",
            "Optuna prunes single-objective studies only",
        ),
        (("max_macs: 12e6", "max_macs: lots"), ":10:15:", "expected a count"),
        (("recipe.epochs=1", "recipe.epochs=0"), ":4:13:", "epochs"),
    ],
)
def test_bad_sweep_files_are_one_located_error(tmp_path: Path, change: tuple[str, str], location: str,
                                               fragment: str) -> None:  # fmt: skip
    path = write(tmp_path, AROUND_FASHION.replace(*change))
    with pytest.raises(SpecError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert message.startswith(f"{path}{location}"), message
    assert fragment in message, message
    assert "\n" not in message


def test_the_cli_prints_a_bad_sweep_file_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, AROUND_FASHION.replace("[1, 3]", "[3, 1]"))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:7:22:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_sampled_values_go_through_the_override_grammar(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, AROUND_FASHION))
    params = {"width": 0.75, "stages[0].blocks": 1, "stages[1].blocks": 2, "stages[2].blocks": 1,
              "block.squeeze_excite": '{"ratio": 0.25}', "recipe.optimizer.lr": 0.002}  # fmt: skip
    trial = optuna.trial.FixedTrial(params)
    values = {axis.name: suggest(trial, axis) for axis in sweep.axes}
    assert values["block.squeeze_excite"] == {"ratio": 0.25}  # a mapping choice is stored as JSON text
    candidate = build_candidate(sweep, values, 7)
    assert candidate.spec.name == "around-0007"
    assert [stage.blocks for stage in candidate.spec.stages] == [1, 2, 1]
    assert candidate.spec.stem.channels == 16  # 32 x 0.5 (base) x 0.75 (sampled), rounded to a multiple of 8
    assert all(stage.block.squeeze_excite is not None for stage in candidate.spec.stages)
    assert candidate.recipe.optimizer.lr == 0.002
    assert "block.squeeze_excite={ratio: 0.25}" in candidate.sets
    same = build_candidate(sweep, values, 8)
    assert same.key == candidate.key  # names differ, the design does not
    assert build_candidate(sweep, {**values, "recipe.optimizer.lr": 0.003}, 9).key != candidate.key


def test_a_sampled_value_that_breaks_the_spec_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    sweep = load_sweep(tiny_sweep(tmp_path))
    values = {"stages[0].blocks": 1, "stages[1].blocks": 1, "stem.channels": 4, "stages[1].stride": 3,
              "recipe.optimizer.lr": 0.001}  # fmt: skip
    with pytest.raises(SpecError, match=r"space stages\[1\].stride=3: stages\[1\].stride"):
        build_candidate(sweep, values, 0)
    wide = build_candidate(sweep, {**values, "stages[1].stride": 2, "stem.channels": 96}, 1)
    assert violations(sweep.settings.constraints, wide.cost) == [f"macs {wide.cost.macs:,} > max_macs 2,000,000"]


@pytest.mark.parametrize("value", [1e-05, 0.1, 3, None, "null", True, {"ratio": 0.25}, [1, 2], 1e20, "a: b"])
def test_value_text_reads_back_as_the_same_value(value: object) -> None:
    assert parse(value_text(value), "test").data == value


def test_storage_urls() -> None:
    assert driver_url("postgresql://u:pw@host:5432/db") == "postgresql+psycopg://u:pw@host:5432/db"
    assert display_url("postgresql://u:secret@host/db") == "postgresql://u:***@host/db"
    assert without_password("postgresql://u:secret@host/db") == "postgresql://u@host/db"
    query = "postgresql://u:secret@db/s?application_name=me@lab"  # an @ after the authority is not a password's
    assert without_password(query) == "postgresql://u@db/s?application_name=me@lab"
    assert display_url(query) == "postgresql://u:***@db/s?application_name=me@lab"
    with pytest.raises(ArchspecError, match="expected sqlite:///PATH or postgresql://"):
        driver_url("mysql://u@host/db")


def test_an_unreachable_storage_is_one_line_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["sweep", str(tiny_sweep(tmp_path)), "--out", str(out), "--storage",
                 "postgresql://nobody:secret@127.0.0.1:9/none"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "cannot open the study storage" in err and "secret" not in err
    assert not out.exists()


def test_pareto_front_keeps_the_points_nothing_beats() -> None:
    points = [(0, 0.90, 100), (1, 0.85, 50), (2, 0.80, 60), (3, 0.90, 120), (4, 0.70, 10)]
    assert pareto_front(points) == {0, 1, 4}


def test_report_of_a_folder_that_holds_no_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "report", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


def test_the_documented_example_caps_macs_at_half_of_fashion_resnet() -> None:
    sweep = load_sweep(Path(__file__).resolve().parents[2] / "docs" / "examples" / "sweep-fashion.yaml")
    assert sweep.settings.constraints.max_macs == complexity(load_spec("fashion-resnet")).macs // 2
    assert sweep.settings.n_trials >= 20
    assert sweep.settings.data.data_dir == "sample"  # runs on a fresh clone, nothing to download


def test_a_sweep_routes_overrides_and_space_paths_as_train_set_does(tmp_path: Path) -> None:
    # One router (archspec.recipe.schema.route): a sweep's `epochs=2` once went to the spec.
    text = AROUND_FASHION.replace("recipe.epochs=1", "epochs=2").replace("recipe.optimizer.lr", "optimizer.lr")
    sweep = load_sweep(write(tmp_path, text))
    assert sweep.recipe_data["epochs"] == 2 and "epochs" not in sweep.spec_data
    assert [(axis.name, axis.target) for axis in sweep.axes][-1] == ("optimizer.lr", "recipe")
    assert split_overrides(["epochs=2"]) == ([], ["epochs=2"])  # train --set
    # the same refusal of the same value, through each: validated as a recipe field
    bad = cli("train", "fashion-resnet", "--recipe", "fashion-best", "--set", "epochs=0")
    assert bad.returncode == 2 and "--set epochs=0: epochs: " in bad.stderr, bad.stderr
    with pytest.raises(SpecError, match=r"sweep\.yaml:4:\d+: epochs: "):
        load_sweep(write(tmp_path, text.replace("epochs=2", "epochs=0")))


REGNET_SWEEP = """\
name: regnet-space
spec:
  name: tiny-regnet
  input: {channels: 1, height: 28, width: 28}
  stem: {kind: conv, channels: 8, kernel_size: 3, stride: 1}
  block: {kind: bottleneck, expansion: 1}
  stages: {regnet: {depth: 4, w0: 8, wa: 8.0, wm: 2.0, group_width: 8}}
  head: {num_classes: 10}
recipe: fashion-best
space:
  stages.regnet.wa: {float: [4.0, 16.0]}
  stages.regnet.depth: {int: [3, 6]}
n_trials: 2
data: {data_dir: sample, max_train: 100, max_test: 50}
"""


def test_a_regnet_design_space_samples_the_generator_and_names_a_typo(tmp_path: Path) -> None:
    """pycls's RegNet parameters are sweep axes (issue 19): stages.regnet.* paths resolve; a typo is located."""
    path = tmp_path / "regnet.yaml"
    path.write_text(REGNET_SWEEP)
    sweep = load_sweep(path)
    assert [axis.path for axis in sweep.axes] == [("stages", "regnet", "wa"), ("stages", "regnet", "depth")]
    path.write_text(REGNET_SWEEP.replace("stages.regnet.wa:", "stages.regnet.wz:"))
    with pytest.raises(SpecError, match=r"stages\.regnet has no field 'wz'"):
        load_sweep(path)


@pytest.mark.parametrize(
    ("typo", "hint"), [("widht:", "did you mean 'width'?"), ("recipe.optimizer.lrr:", "did you mean 'lr'?")]
)
def test_a_typo_in_a_space_path_suggests_the_nearest_field(tmp_path: Path, typo: str, hint: str) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(REGNET_SWEEP.replace("stages.regnet.wa:", typo))
    with pytest.raises(SpecError, match=re.escape(hint)):
        load_sweep(path)


def test_the_documented_frontier_sweep_trains_on_the_full_data_around_the_bundled_recipe() -> None:
    sweep = load_sweep(Path(__file__).resolve().parents[2] / "docs" / "examples" / "sweep-frontier.yaml")
    assert sweep.settings.data.data_dir is None and sweep.settings.data.max_train is None  # the installed full set
    assert sweep.recipe_data["name"] == "fashion-frontier"
    assert {"width", "recipe.epochs", "recipe.augment.erasing"} <= {axis.name for axis in sweep.axes}


def test_min_macs_makes_a_budget_band_and_older_sweeps_keep_their_fingerprint(tmp_path: Path) -> None:
    pinned = AROUND_FASHION.replace("width=0.5]", "width=0.5, recipe.channels_last=true]")
    sweep = load_sweep(write(tmp_path, pinned))
    assert sweep.fingerprint() == "sha256:fb992603deed4fc3"  # what this sweep hashed to before min_macs existed
    banded = load_sweep(write(tmp_path, pinned.replace("{max_macs: 12e6", "{min_macs: 5e6, max_macs: 12e6")))
    assert banded.fingerprint() != sweep.fingerprint()
    values = {"width": 0.5, "stages[0].blocks": 1, "stages[1].blocks": 1, "stages[2].blocks": 1,
              "block.squeeze_excite": None, "recipe.optimizer.lr": 0.002}  # fmt: skip
    small = build_candidate(banded, values, 0)
    assert small.cost.macs < 5_000_000
    assert violations(banded.settings.constraints, small.cost) == [f"macs {small.cost.macs:,} < min_macs 5,000,000"]
    assert violations(sweep.settings.constraints, small.cost) == []
    upside_down = write(tmp_path, AROUND_FASHION.replace("{max_macs: 12e6", "{min_macs: 13e6, max_macs: 12e6"))
    with pytest.raises(SpecError, match=r":10:15: constraints.min_macs: 13,000,000 is above max_macs"):
        load_sweep(upside_down)


def test_the_documented_design_spaces_differ_only_in_their_space() -> None:
    """docs/sweeps.md compares AnyNetX and RegNetX: a fair comparison samples both at random, in one budget band,
    trained alike on the same data."""
    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    anynet, regnet = (load_sweep(examples / f"sweep-{name}.yaml") for name in ("anynetx", "regnetx"))
    for sweep in (anynet, regnet):
        assert sweep.settings.sampler.kind == "random" and sweep.settings.pruner_kind == "none"
    for field in ("constraints", "data", "objectives", "n_trials"):
        assert getattr(anynet.settings, field) == getattr(regnet.settings, field), field
    assert anynet.settings.constraints.min_macs is not None
    assert anynet.recipe_data == regnet.recipe_data | {"description": anynet.recipe_data["description"],
                                                       "name": anynet.recipe_data["name"]}  # fmt: skip
    assert len([a for a in anynet.axes if a.name.startswith("stages[")]) == 16  # 4 stages x 4 freedoms
    assert {a.name for a in regnet.axes} == {f"stages.regnet.{k}" for k in ("depth", "w0", "wa", "wm", "group_width")}


def test_every_bad_space_entry_is_reported_not_only_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = AROUND_FASHION.replace("stages[*].blocks: {int: [1, 3]}", "stages[*].blocks: {int: [1, 3]}\n"
                                  "  stages[1].blocks: {int: [1, 2]}\n  stages[*].chanels: {int: [8, 16]}")  # fmt: skip
    path = write(tmp_path, text.replace("recipe.optimizer.lr", "recipe.optimiser.lr"))
    with pytest.raises(SpecError) as caught:
        load_sweep(path)
    lines = [problem.message for problem in caught.value.errors]
    assert [line.split(": ")[0] for line in lines] == [f"{path}:8:3", f"{path}:9:3", f"{path}:11:3"]  # file order
    assert "sampled twice" in lines[0] and "did you mean 'channels'" in lines[1] and "'optimiser'" in lines[2]
    assert str(caught.value).endswith("(and 2 more; --all-errors lists them)")
    assert main(["sweep", str(path), "--all-errors", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.count("\n") == 3 and not (tmp_path / "out").exists()
