"""Torch networks and their training: score MLPs for the learned ladders, UNets for the
image track, and the optimiser loop and torch twin of the VP schedule they share."""
