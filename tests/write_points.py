"""The named write points of every command (`spl_tf.utils.faults`): one registry for the
tests that fail each write with a full disk (test_write_failures.py).

Each entry is (label, fault spec): the spec names the point as `SPL_FAIL_AT` takes it
(`write:<file name>[@N]`, N counting the points of that name in one command). A test
runs each command with `SPL_TRACE_FILE` and checks that the write points it reaches are
exactly the ones listed here, so a new write cannot go untested.
"""

# A resumed pix2pix run going from 1 to 2 epochs (the tests' case), in the order written.
TRAIN = [
    ("the lock", "write:.lock"),
    ("config.json", "write:config.json"),
    ("the TensorBoard logs", "write:tensorboard"),  # a warning, not the end of the run
    ("the sample strip", "write:epoch_002.png"),
    ("the training log", "write:training_log.csv"),
    ("the checkpoint", "write:epoch_002.keras"),
    ("the final model", "write:model.keras"),
    ("the export", "write:export"),
]

# Predicting the 2 test pairs of a split: inputs, targets, predictions of the batch.
PREDICT = [
    ("the lock", "write:.lock"),
    ("predict.json", "write:predict.json"),
    ("an input image", "write:test_00.png@1"),
    ("a target image", "write:test_01.png@2"),
    ("a prediction", "write:test_00.png@3"),
    ("the grid", "write:grid.png"),
    ("metrics.json", "write:metrics.json"),
]

# Makeup transfer on two folders (one source, one reference): result, then its figure.
TRANSFER = [
    ("the lock", "write:.lock"),
    ("transfer.json", "write:transfer.json"),
    ("a result", "write:source_reference.png@1"),
    ("its figure", "write:source_reference.png@2"),
]

# fcc_dataset.build of one video (--jobs=1: in the command's process).
FCC_BUILD = [
    ("the lock", "write:.lock"),
    ("a face crop", "write:*_cropped.jpg"),
    ("the manifest", "write:manifest.json"),
]

# fcc_dataset.pairs (its workers write the pairs).
FCC_PAIRS = [
    ("the lock", "write:.lock"),
    ("a pair", "write:*.jpg"),
]


def patterns(registry: list[tuple[str, str]]) -> set[str]:
    """The point-name patterns of a registry, without their counts."""
    return {spec.split("@")[0] for _, spec in registry}
