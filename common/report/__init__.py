"""Every table and figure of every script, drawn from the saved results (the results indexes,
``figures/<script>/results.jsonl``), never from a training in progress.

- ``tables``: the numbers' formatting (percent, gaps, mean ± std over seeds, CSV and Markdown), written once;
- ``plots``: matplotlib set up headless, the atomic PNG save, the seed band, bar and image-grid figures;
- ``cifar``: the sweep's per-run figures, ``summary.{md,csv,png}`` and the ladder (``beyond/ladder.{md,png}``);
- ``calibration``, ``search``: the calibration's and the search's tables and figures;
- ``rnn``: Task 3's curves, summaries and the CNN comparison;
- ``speed``: ``fast_settings.md``, the opt-in speed settings against float32;
- ``claims``: ``figures/claims.md``, the study's claims checked one by one;
- ``docs``: the README's and ``docs/``'s quoted tables kept identical to the generated files.

``python -m common.report`` rebuilds every committed table and figure from the indexes, training nothing.
"""
