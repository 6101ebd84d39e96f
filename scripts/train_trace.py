"""Train one case for a while and print every epoch's held-out IIA per high-level node (nothing is stored).

    python scripts/train_trace.py -i 45 --seconds 100                          # fresh, default recipe
    python scripts/train_trace.py -i 45 --seconds 100 --set iit_source_grads=true
    python scripts/train_trace.py -i 45 --seconds 100 --from-stored --set clip_grad_norm=0

`--set` overrides any `TrainConfig` field (numbers, true/false, strings; `clip_grad_norm=0` disables
clipping). `--from-stored` starts from the shipped model's weights, as `train iit --retry-failed` does.
Shows which node a recipe leaves behind and whether a run climbs, stalls or collapses.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN, load_ll_model
from circuits_benchmark.training.trainer import TrainConfig, train


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_overrides(items: list[str]) -> dict:
    """`key=value` pairs checked against `TrainConfig`'s fields."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE with a TrainConfig field")
        out[key] = _value(text)
    if out.get("clip_grad_norm") == 0:
        out["clip_grad_norm"] = None
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--case", required=True)
    p.add_argument("--seconds", type=float, default=100.0, help="time limit (default 100)")
    p.add_argument("--from-stored", action="store_true", help="start from the stored model's weights")
    p.add_argument("--models-root", default=str(DEFAULT_ROOT))
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="TrainConfig overrides")
    args = p.parse_args()

    torch.set_num_threads(1)
    start = load_ll_model(args.case, DEFAULT_RUN, args.models_root, device="cpu").model if args.from_stored else None
    config = TrainConfig(device="cpu", max_seconds=args.seconds, **parse_overrides(args.set))

    def show(epoch: int, m: dict) -> None:
        nodes = " ".join(f"{k[4:]} {v:.3f}" for k, v in m.items() if k.startswith("iia/"))
        print(f"epoch {epoch:3d} {m['seconds']:6.0f} s | IIA per node: {nodes} | strict {m['strict_accuracy']:.3f} "
              f"accuracy {m['accuracy']:.3f} | IIT loss {m['iit_loss']:.3f}", flush=True)

    train(args.case, config, ll_model=start, progress=False, on_epoch=show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
