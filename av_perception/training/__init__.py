"""Training of the temporal controller (PyTorch). The only place that imports torch.

Nothing else in av_perception imports this package at module level, so the rest of the package
runs without PyTorch installed; ``pip install -r requirements/train.txt`` adds it.
"""
