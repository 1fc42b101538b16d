"""``torch.distributed.elastic``: what torchrun-launched scripts import from it (``multiprocessing.errors``)."""
