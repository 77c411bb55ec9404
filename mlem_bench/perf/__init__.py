"""Performance tools: speed ratios measured in one run (`bench`) and peers side by side (`peers`)."""
