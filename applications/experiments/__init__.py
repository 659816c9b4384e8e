"""`spl-experiment`: a named set of training runs on one dataset, evaluated alike and
compared (the paper's claim against L1 and the GAN baselines).

- `config`: the command's settings (its flags).
- `presets`: the named sets of entries (`smoke`, `translation`, `super_resolution`) and
  the run config of each entry.
- `progress`: the callback that scores a run on the test images during training.
- `report`: results.md, results.csv, grid.png and the metric-vs-steps plots.
- `command`: the command itself, and `run_experiment`, the function behind it.

Each entry is an ordinary run folder of the trainers (`applications.common.training`),
scored with `applications.common.evaluation`'s metrics.
"""
