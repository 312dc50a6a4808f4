"""Command: predict (top-k class names of images, from a checkpoint, run folder or export)."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from archspec.cli.common import Commands, positive_int
from archspec.cli.threads import add_threads_argument, use_threads


def cmd_predict(args: argparse.Namespace) -> int:
    from archspec.deploy.predict import load_predictor, predict
    from archspec.report import prediction_table

    use_threads(args)
    predictor = load_predictor(args.model, args.device)
    results = predict(predictor, args.images, args.top_k, args.batch_size)
    if args.format == "json":
        rows = [{"path": str(r.path), "top": [{"class": c, "probability": p} for c, p in r.top]} for r in results]
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["path", "rank", "class", "probability"])
        writer.writerows([r.path, rank, c, f"{p:.6f}"] for r in results for rank, (c, p) in enumerate(r.top, 1))
    else:
        print(f"model: {predictor.source}")
        print(prediction_table(results))
    return 0


def register(commands: Commands) -> None:
    p = commands.add("predict", cmd_predict, "Top-k class names with probabilities for images, from a checkpoint, "
                     "a run folder or an export, prepared as in training.")  # fmt: skip
    p.add_argument("model", help="a checkpoint (.pt), a run folder (its best.pt), or an export (.ts, .pt2, .onnx)")
    p.add_argument("images", nargs="+", help="image files, or folders of them (searched recursively)")
    p.add_argument("--top-k", type=positive_int, default=5, metavar="K", help="classes per image (default 5)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="B", help="images per forward pass")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps, for checkpoints (exports run on the CPU)")
    add_threads_argument(p)
