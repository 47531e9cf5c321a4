"""Every table and figure of every script, drawn from the saved results (the results indexes,
``figures/<script>/results.jsonl``, and the deconvnet's saved arrays), never from a training in progress. One
module per page of ``docs/`` or folder of ``figures/``:

- ``task1``: the sweep's summary, the fit of the unstated constants, and what a run of ``cifar_v2.py`` draws;
  ``runfigs``: each run's own figures; ``overview``: the study's 11 runs side by side, the chosen networks' classes
  and calibration;
- ``beyond``: the ladder and every choice made on validation; ``search``: each Optuna search's report;
- ``deconvnet``: Task 2's figures and their checks; ``rnn`` and ``rnn_figures``: Task 3;
- ``claims``: the study's claims checked, with their forest plot; ``speed``: the speed settings and what every
  result took; ``results``: the README's table;
- ``stats`` and ``plots``: the numbers and the figures' shared parts, written once; ``docs``: the README's and
  ``docs/``'s quoted tables kept identical to the generated files.

``python -m common.report`` rebuilds every committed table and figure from the records, training nothing.
"""
