"""ML-EM for a practitioner's own torch models: the estimator as a module
(`multilevel.MultilevelModel`), samplers in the diffusers and k-diffusion conventions, and
the measurement of a ladder that `mlem-bench predict` reads (docs/practitioners.md)."""
