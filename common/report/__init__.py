"""Every table and figure, drawn from the committed records alone (``python -m common.report`` rebuilds them all):
one module per page of ``docs/`` or folder of ``figures/``, the shared numbers and figure parts in ``stats`` and
``plots``, and ``docs``, which copies the generated tables into the README and ``docs/``."""
