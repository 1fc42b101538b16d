"""``torch.distributed.elastic.multiprocessing``: its ``errors`` (``record``, ``ChildFailedError``)."""
