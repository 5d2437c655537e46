"""smprov's benchmark: wall time, API calls and the critical path, against moto.

``python -m bench`` (needs the ``test`` extra, for moto) runs whatever resource kinds are
registered against in-process moto with a model of AWS's timing (``bench.model``), on redundant
stacks of 2, 3 and 6 availability zones at parallelism 10 (the 2-zone one three times, judged on
the median run, ``--repeat``; and once at parallelism 1, the serial baseline; ``--serial-zones
2,3,6`` for all), then the default stack on plain moto, and
prints the tables and the issue's targets; ``--write-results`` also writes ``bench/RESULTS.md``.

Modules: ``model`` (the simulated AWS timing, as botocore event hooks), ``trace`` (which plan step
sent each call), ``critical`` (the critical-path lower bound), ``runner`` (the scenarios),
``report`` (tables, targets, RESULTS.md).
"""
