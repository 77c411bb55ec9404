"""The image track: a ladder of UNets trained on images, its gamma against the largest
network, EM / ML-EM / stitch samplers on one Brownian path, FID, and a report
(`mlem-bench unet`). Stages in `stages`; spec, data, samplers, FID and report beside it."""
