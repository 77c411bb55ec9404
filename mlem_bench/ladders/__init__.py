"""Ladders of drift approximators f^1..f^L: synthetic gamma-ladders and learned score networks.

A ladder declares its facts (levels, eps_l, cost c_l, gamma) and turns itself into the
kernels' arrays (`arrays(dim)`); training lives in `mlem_bench.nets`.
"""
from .learned import LearnedLadder
from .synthetic import SyntheticLadder

__all__ = ["LearnedLadder", "SyntheticLadder"]
