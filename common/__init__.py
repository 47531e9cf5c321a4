"""Shared code for the study's scripts: data loading, the LeNet-5, training loop,
checkpoint I/O and plotting. Each module is small and reads on its own."""
