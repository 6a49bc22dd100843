"""Layers (dense and truly sparse) and models built on the autograd-lite."""
