"""Optional dependencies, imported on demand with a one-line error when missing."""
from .errors import LadderError


def require_torch():
    """The torch module, or LadderError saying how to install the CPU build this project pins."""
    try:
        import torch
    except ImportError:
        raise LadderError("learned ladders need PyTorch: pip install -e '.[learned]' "
                          "(pins the CPU build torch==2.13.0)") from None
    return torch
