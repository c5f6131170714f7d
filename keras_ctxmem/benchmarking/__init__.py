"""Training and inference benchmarks of the zoo (`ctxmem bench`), with a PyTorch
eager reference of the same architectures, used when PyTorch is installed.

`harness` measures; `torch_reference` holds the PyTorch models. The full runs
behind `benchmarks/RESULTS.md` are `benchmarks/run_all.py` of a source checkout.
"""
