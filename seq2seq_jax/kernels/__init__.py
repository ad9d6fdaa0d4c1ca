"""Hand-written kernels behind config switches: onednn.py (bf16 matmuls through oneDNN)."""
