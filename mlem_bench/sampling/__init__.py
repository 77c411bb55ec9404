"""ML-EM for a practitioner's own torch models: the estimator as a module
(`multilevel.MultilevelModel`), samplers in the diffusers and k-diffusion conventions, and
the measurement of a ladder that `mlem-bench predict` reads (docs/practitioners.md).

The names below are imported on first use, so that importing this package (the CLI does)
does not import torch."""
import importlib

EXPORTS = {"MultilevelModel": "multilevel", "mlem_sample": "diffusers_loop",
           "sample_mlem_euler": "k_diffusion", "sample_mlem_euler_ancestral": "k_diffusion",
           "measure_ladder": "measure"}

__all__ = list(EXPORTS)


def __getattr__(name):
    if name in EXPORTS:
        return getattr(importlib.import_module(f".{EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
