"""The network's faster execution paths: results they must keep (accuracy, dtypes), never timings."""
from __future__ import annotations

import torch

from core.network import bfloat16_inference
from core.network.blocks import per_image_matmul


def test_per_image_matmul_equals_bmm_on_strided_views(rng):
    for batch in (1, 2):
        t = torch.randn(batch, 8, 5, 7, generator=rng).contiguous(memory_format=torch.channels_last)
        tokens = t.permute(0, 2, 3, 1).reshape(batch, 35, 8)   # a channels-last view
        q, k = tokens[..., :3], tokens[..., 3:]                 # column slices, read in place
        assert torch.allclose(per_image_matmul(q.transpose(1, 2), k), torch.bmm(q.transpose(1, 2), k), atol=1e-6)


def test_bfloat16_inference_is_opt_in_and_close(tiny_net, rng):
    x = torch.rand(1, 3, 24, 40, generator=rng)
    d = torch.randn(1, 512, generator=rng)
    with torch.no_grad():
        ref, ref_trace = tiny_net(x, d, trace=True)
        with bfloat16_inference(enabled=False):
            same = tiny_net(x, d)
        with bfloat16_inference():
            low, low_trace = tiny_net(x, d, trace=True)
        after = tiny_net(x, d)
    assert torch.equal(same, ref) and torch.equal(after, ref)   # float32 outside the context
    assert low.dtype == torch.float32
    assert (low - ref).abs().max().item() < 0.05
    for a, b in zip(ref_trace, low_trace):   # the degradation-key retrieval stays float32
        assert b.weights.dtype == torch.float32
        assert torch.allclose(a.weights, b.weights, atol=1e-6)
