"""Write (or check) the reference weight fixtures in tests/weights/fixtures.

Each reference network (torchvision, timm, d2l) is built without pretrained weights, every parameter and buffer
except ``num_batches_tracked`` is set to ``fill(reference_key, shape)`` from tests/weights/fill.py, the model runs
in float64 eval mode on ``input_batch(...)``, and its state-dict layout, per-stage output shapes and logits go to
``<model>.json``.  archspec's tests replay the same fill under their own key names and compare logits, so CI needs
no torchvision or timm.

Run with a throwaway venv that has torchvision and timm (see tests/weights/README.md):

    /work/refvenv/bin/python tools/weight_fixtures.py --out tests/weights/fixtures
    /work/refvenv/bin/python tools/weight_fixtures.py --out tests/weights/fixtures --check

The d2l network is written out here (``d2l_resnet18``) and needs only torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "weights"))

from fill import fill, input_batch  # noqa: E402

# name -> (source, stem module, stage modules, head module) in the reference's own module names
TORCHVISION = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2"]
TIMM_RESNET = ["resnet18d", "resnet50d", "seresnet50"]
TIMM_RESNETV2 = ["resnetv2_50"]
D2L = "d2l-resnet18"
REGNET_X = ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
            "regnet_x_32gf"]  # fmt: skip
REGNET_Y = ["regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf",
            "regnet_y_32gf", "regnet_y_128gf"]  # fmt: skip
# archspec preset -> the timm model of the same network: pycls's where torchvision's rounding gives the same
# widths, timm's `_tv` copy of torchvision's where it does not (archspec/spec/regnet.py)
TIMM_REGNET = {
    "regnet_x_400mf": "regnetx_004_tv", "regnet_x_800mf": "regnetx_008", "regnet_x_1_6gf": "regnetx_016",
    "regnet_x_3_2gf": "regnetx_032", "regnet_x_8gf": "regnetx_080", "regnet_x_16gf": "regnetx_160",
    "regnet_x_32gf": "regnetx_320", "regnet_y_400mf": "regnety_004", "regnet_y_800mf": "regnety_008_tv",
    "regnet_y_1_6gf": "regnety_016", "regnet_y_3_2gf": "regnety_032", "regnet_y_8gf": "regnety_080_tv",
    "regnet_y_16gf": "regnety_160", "regnet_y_32gf": "regnety_320", "regnet_y_128gf": "regnety_1280",
    "regnet_x_400mf_pycls": "regnetx_004", "regnet_y_800mf_pycls": "regnety_008", "regnet_y_8gf_pycls": "regnety_080",
}  # fmt: skip
CONVNEXT = ["convnext_tiny", "convnext_small", "convnext_base"]  # torchvision's and timm's, by the same names
# too big for float64 logits in CI (5 GB of weights): keys, shapes and stage shapes only, from the meta device
SHAPES_ONLY = {"regnet_y_128gf"}

RESNET_STAGES = ("maxpool", ["layer1", "layer2", "layer3", "layer4"])
RESNETV2_STAGES = ("stem", ["stages.0", "stages.1", "stages.2", "stages.3"])
TV_REGNET_STAGES = ("stem", [f"trunk_output.block{i}" for i in range(1, 5)])
TIMM_REGNET_STAGES = ("stem", ["s1", "s2", "s3", "s4"])
D2L_STAGES = ("0", ["1", "2", "3", "4"])
TV_CONVNEXT_STAGES = ("features.0", ["features.1", "features.3", "features.5", "features.7"])  # after downsampling
TIMM_CONVNEXT_STAGES = ("stem", ["stages.0", "stages.1", "stages.2", "stages.3"])


def _version(module: Any) -> str:
    return str(module.__version__).split("+")[0]


# --- d2l (Dive into Deep Learning, "Residual Networks (ResNet)"), written out from the book's code ---


class Residual(nn.Module):
    """d2l's residual block: two 3x3 convs (with bias) and BN, an optional strided 1x1 conv on the shortcut."""

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False, strides: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3: nn.Module | None = (
            nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        )
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        return torch.relu(y + x)


def _resnet_block(input_channels: int, num_channels: int, num_residuals: int, first_block: bool = False) -> nn.Module:
    blk: list[nn.Module] = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return nn.Sequential(*blk)


def d2l_resnet18(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """d2l's ResNet-18 for Fashion-MNIST (96x96 input in the book)."""
    b1 = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b2 = _resnet_block(64, 64, 2, first_block=True)
    b3 = _resnet_block(64, 128, 2)
    b4 = _resnet_block(128, 256, 2)
    b5 = _resnet_block(256, 512, 2)
    return nn.Sequential(b1, b2, b3, b4, b5, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, num_classes))


# --- building the references ---


class Reference:
    def __init__(
        self,
        name: str,
        build: Callable[[], nn.Module],
        reference: Callable[[], str],
        stages: tuple[str, list[str]],
        head: str,
        input_shape: tuple[int, int, int],
        spec: str | None = None,
        file: str | None = None,
        sets: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.sets = sets  # --set changes to the preset that make it this reference's network
        self.spec = spec or name  # the archspec preset it is the reference of
        # fixture file stem; `file` where torchvision and timm give the same name to the preset's two references
        self.file = file or (name if self.spec == name else f"{self.spec}--{name}")
        self.build = build
        self.reference = reference
        self.stages = stages
        self.head = head
        self.input_shape = input_shape


def _torchvision(name: str) -> nn.Module:
    import torchvision

    model: nn.Module = getattr(torchvision.models, name)(weights=None)
    return model


def _torchvision_version() -> str:
    import torchvision

    return f"torchvision {_version(torchvision)}"


def _timm(name: str, **options: Any) -> nn.Module:
    import timm

    model: nn.Module = timm.create_model(name, pretrained=False, **options)
    return model


def _timm_version() -> str:
    import timm

    return f"timm {_version(timm)}"


def references() -> list[Reference]:
    refs = [
        Reference(n, lambda n=n: _torchvision(n), _torchvision_version, RESNET_STAGES, "fc", (3, 64, 64))
        for n in TORCHVISION
    ]
    refs += [Reference(n, lambda n=n: _timm(n), _timm_version, RESNET_STAGES, "fc", (3, 64, 64)) for n in TIMM_RESNET]
    refs += [
        Reference(n, lambda n=n: _timm(n), _timm_version, RESNETV2_STAGES, "head.fc", (3, 64, 64))
        for n in TIMM_RESNETV2
    ]
    refs += [Reference(n, lambda n=n: _torchvision(n), _torchvision_version, TV_REGNET_STAGES, "fc", (3, 64, 64))
             for n in REGNET_X + REGNET_Y]  # fmt: skip
    refs += [Reference(model, lambda m=model: _timm(m), _timm_version, TIMM_REGNET_STAGES, "head.fc", (3, 64, 64),
                       spec=preset) for preset, model in TIMM_REGNET.items()]  # fmt: skip
    refs += [Reference(n, lambda n=n: _torchvision(n), _torchvision_version, TV_CONVNEXT_STAGES, "classifier.2",
                       (3, 64, 64)) for n in CONVNEXT]  # fmt: skip
    refs += [Reference(n, lambda n=n: _timm(n), _timm_version, TIMM_CONVNEXT_STAGES, "head.fc", (3, 64, 64),
                       spec=n, file=f"{n}--timm") for n in CONVNEXT]  # fmt: skip
    # timm's conv_mlp form: a channels-first norm and 1x1 convs, archspec's `channels_last: false` block
    refs.append(Reference("convnext_tiny", lambda: _timm("convnext_tiny", conv_mlp=True), _timm_version,
                          TIMM_CONVNEXT_STAGES, "head.fc", (3, 64, 64), spec="convnext_tiny",
                          file="convnext_tiny--timm-conv_mlp", sets=("block.channels_last=false",)))  # fmt: skip
    refs.append(
        Reference(
            D2L, d2l_resnet18, lambda: "d2l (Dive into Deep Learning, ResNet chapter)", D2L_STAGES, "7", (1, 96, 96)
        )
    )
    return refs


def fill_model(model: nn.Module) -> None:
    """Cast to float64 and set every state-dict tensor except num_batches_tracked from ``fill``."""
    model.to(torch.float64)
    state = model.state_dict()
    covered = set(state)
    missing = [n for n, _ in model.named_parameters() if n not in covered]
    missing += [n for n, _ in model.named_buffers() if n not in covered]
    if missing:
        raise RuntimeError(f"tensors outside the state dict would stay unfilled: {missing}")
    with torch.no_grad():
        for key, tensor in state.items():
            if key.endswith("num_batches_tracked"):
                continue
            if tensor.dtype != torch.float64:
                raise RuntimeError(f"{key}: dtype {tensor.dtype} after casting to float64")
            tensor.copy_(fill(key, tuple(tensor.shape)))


def head_kind(model: nn.Module, path: str) -> str:
    head = model.get_submodule(path)
    if isinstance(head, nn.Linear):
        return "linear"
    if isinstance(head, nn.Conv2d) and tuple(head.kernel_size) == (1, 1):
        return "conv1x1"
    raise RuntimeError(f"unexpected head {path}: {head}")


def compute(ref: Reference) -> dict[str, Any]:
    torch.manual_seed(0)  # construction-time init is overwritten anyway; keep it fixed regardless
    meta = ref.spec in SHAPES_ONLY
    model = ref.build()  # on the CPU: torchvision's RegNet computes its widths with tensors, which meta cannot
    if meta:
        model = model.to("meta").to(torch.float64)
    else:
        fill_model(model)
    model.eval()
    stem, stages = ref.stages
    shapes: dict[str, list[int]] = {}
    hooks = []
    for label, path in zip(["stem", "stage1", "stage2", "stage3", "stage4"], [stem, *stages], strict=True):

        def hook(_m: nn.Module, _i: Any, out: torch.Tensor, label: str = label) -> None:
            shapes[label] = list(out.shape[1:])

        hooks.append(model.get_submodule(path).register_forward_hook(hook))
    x = input_batch(*ref.input_shape)
    with torch.no_grad():
        logits = model(x.to("meta") if meta else x)
    for h in hooks:
        h.remove()
    return {
        "reference": ref.reference(),
        "model": ref.name,
        **({"spec": ref.spec} if ref.file != ref.name else {}),  # a file not named after its model names its preset
        **({"sets": list(ref.sets)} if ref.sets else {}),
        "input": list(x.shape),
        "head": head_kind(model, ref.head),
        "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        "stage_shapes": shapes,
        "logits": [] if meta else logits.tolist(),  # empty: shapes only (SHAPES_ONLY)
    }


def dumps(record: dict[str, Any]) -> str:
    """JSON with one state-dict entry and one logits row per line, floats at full repr precision."""
    lines = []
    for key, value in record.items():
        if key in ("state_dict", "logits"):
            inner = ",\n  ".join(json.dumps(item, separators=(",", ":")) for item in value)
            lines.append(f"{json.dumps(key)}: [\n  {inner}\n]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def sanity(record: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not record["logits"]:
        return problems
    flat = [v for row in record["logits"] for v in row]
    if not all(math.isfinite(v) for v in flat):
        problems.append("non-finite logits")
    for i, row in enumerate(record["logits"]):
        if max(row) == min(row):
            problems.append(f"logits of image {i} are all equal")
    if record["logits"][0] == record["logits"][1]:
        problems.append("both images give the same logits")
    return problems


def check(record: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    problems = [f"{k} differs" for k in record if k != "logits" and record[k] != stored.get(k)]
    new = torch.tensor(record["logits"], dtype=torch.float64)
    old = torch.tensor(stored["logits"], dtype=torch.float64)
    if new.shape != old.shape:
        problems.append(f"logits shape {tuple(new.shape)} vs stored {tuple(old.shape)}")
    elif not torch.equal(new, old):
        problems.append(f"logits differ, max abs diff {(new - old).abs().max().item():.3e}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "weights" / "fixtures")
    parser.add_argument("--check", action="store_true", help="recompute and compare with the stored files")
    parser.add_argument("--only", nargs="*", help="model names (default: all)")
    args = parser.parse_args(argv)

    failed = False
    for ref in references():
        if args.only and ref.name not in args.only and ref.file not in args.only:
            continue
        record = compute(ref)
        path = args.out / f"{ref.file}.json"
        problems = sanity(record)
        if args.check:
            if not path.exists():
                problems.append(f"{path} missing")
            else:
                problems += check(record, json.loads(path.read_text()))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(record))
        status = "; ".join(problems) if problems else ("matches" if args.check else "written")
        failed |= bool(problems)
        print(
            f"{ref.file:18s} {record['reference']:50s} entries={len(record['state_dict']):4d} "
            f"head={record['head']:8s} {status}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
