"""Every table and figure of every script, drawn from the saved results (``figures/<script>/results.jsonl`` and the
deconvnet's saved arrays), never from a training in progress; ``python -m common.report`` rebuilds them all. One
module per page of ``docs/`` or folder of ``figures/`` (``task1`` with ``runfigs`` and ``overview``, ``beyond``,
``protocol``, ``search``, ``deconvnet``, ``rnn``, ``claims``, ``speed``, ``results``), the
numbers and the figures' shared parts written once (``stats``, ``plots``), and ``docs``, which keeps the README's
and ``docs/``'s quoted tables identical to the generated files.
"""
