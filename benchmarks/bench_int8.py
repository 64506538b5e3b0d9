"""Dynamic int8 quantisation of VLU-Net's 1x1 convolutions: error and speed against float32.

    python benchmarks/bench_int8.py --model vlunet-paper --size 128 [--threads 1]
    python benchmarks/bench_int8.py --model shipped --size 128

Every 1x1 convolution that is called as a module (the Restormer blocks' output projections, the
key projections, the level fusions; the ones whose weights are sliced by
``core.network.blocks.half_conv`` stay float32) becomes ``torch.ao.quantization.quantize_dynamic``'s
int8 ``Linear`` over the channels of the channels-last map. Prints the max abs difference of one
forward from float32 and the seconds of one forward each (after a warm-up). Not used by the
project: see docs/benchmarks.md for what it measured.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core  # noqa: E402

SLICED = ("qv", "project_in")   # weights read by half_conv: must stay Conv2d


class Int8Pointwise(nn.Module):
    """A 1x1 convolution as a dynamically quantised Linear over a channels-last map's channels."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
        linear.weight.data = conv.weight.data[:, :, 0, 0].clone()
        if conv.bias is not None:
            linear.bias.data = conv.bias.data.clone()
        self.linear = torch.ao.quantization.quantize_dynamic(nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def quantise_pointwise(module: nn.Module) -> int:
    """Replace the module-called 1x1 convolutions in place; returns how many."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and child.kernel_size == (1, 1) and child.groups == 1 and name not in SLICED:
            setattr(module, name, Int8Pointwise(child))
            count += 1
        else:
            count += quantise_pointwise(child)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vlunet-paper", help="a registered configuration, or 'shipped'")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    core.keep_freed_memory()
    torch.manual_seed(0)
    net = core.Restorer.from_pretrained(encoder=None).network if args.model == "shipped" else \
        core.create_model(args.model).eval()
    quantised = copy.deepcopy(net)
    swapped = quantise_pointwise(quantised)
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        diff = float((net(x, None) - quantised(x, None)).abs().max())
        seconds = {}
        for label, model in (("float32", net), ("int8", quantised)):
            model(x, None)
            start = time.perf_counter()
            model(x, None)
            seconds[label] = time.perf_counter() - start
    print(f"{args.model}, {args.size}², {args.threads} thread(s): {swapped} 1x1 convolutions in int8; max abs difference "
          f"{diff:.2e}; float32 {seconds['float32']:.3f} s, int8 {seconds['int8']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
