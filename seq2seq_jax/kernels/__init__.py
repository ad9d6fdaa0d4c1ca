"""Kernels: layouts.py (matmuls whose gradients XLA:CPU runs as plain matmuls, used by
every Dense and the transformer's attention) and onednn.py (bf16 matmuls through oneDNN,
behind train.matmul=onednn)."""
