"""Small torch helpers shared by the image track, the networks and the practitioners'
samplers: FLOPs of one call and waiting for a device's queued work."""
from .optional import require_torch


def call_flops(fn, *args, **kwargs):
    """Floating-point operations of one call fn(*args, **kwargs) without gradients
    (PyTorch's FLOP counter: 2 per multiply-add of matrix products and convolutions;
    elementwise work is not counted), 0 when nothing is counted."""
    torch = require_torch()
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        fn(*args, **kwargs)
    return int(fc.get_total_flops())


def sync(device):
    """Wait for the device's queued work (timing on a GPU; nothing to wait for on a CPU)."""
    if str(device).startswith("cuda"):
        require_torch().cuda.synchronize()
