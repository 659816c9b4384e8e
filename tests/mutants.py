r"""Mutation checks: break the code on purpose and see the tests that should notice fail.

    make mutants                          # every mutant (tens of minutes)
    python tests/mutants.py --only=NAME   # one of them

Each mutant is one textual change to one file. It is applied to a scratch copy of the
checkout (the files git knows, as they are in the working tree), then the tests named
for it run there; the mutant is *caught* when they fail, *survived* when they pass. The
table at the end says which, and the command fails if any survived. Not part of
`make test`: each mutant costs a run of its tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkout import scratch_copy


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the checkout
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest node ids or files that must fail


LEARNING = "tests/applications_tests/test_learning.py"
FCC_YOUTUBE = "tests/fcc_dataset_tests/test_fcc_youtube.py"
ADVERSARIAL = "tests/applications_tests/test_adversarial.py"

MUTANTS = [
    Mutant("pix2pix loss negated (trains away from the target)",
           "applications/pix2pix/application.py",
           "        return SPL()\n", "        return SPL(gp_weight=-1.0, cp_weight=-1.0)\n",
           (f"{LEARNING}::test_pix2pix_learns",)),
    Mutant("SR loss negated", "applications/srresnet/application.py",
           "        return SPL()\n", "        return SPL(gp_weight=-1.0, cp_weight=-1.0)\n",
           (f"{LEARNING}::test_srresnet_learns",)),
    Mutant("makeup loss negated", "spl_tf/losses.py",
           "        return makeup_loss(y_true, y_pred, self.value_range)\n",
           "        return -makeup_loss(y_true, y_pred, self.value_range)\n",
           (f"{LEARNING}::test_makeup_learns",)),
    Mutant("a learning rate of 0 (the optimizer does nothing)", "applications/common/runtime.py",
           "    if config.fixed_learning_rate:\n        return config.learning_rate\n",
           "    if True:\n        return 0.0\n", (LEARNING,)),
    Mutant("each batch's targets shuffled against its inputs (rolled by one)",
           "applications/common/training.py",
           "            data.train(done * data.steps_per_epoch),\n",
           "            data.train(done * data.steps_per_epoch).map(\n"
           "                lambda x, y: (x, __import__('tensorflow').roll(y, 1, axis=0))),\n",
           (LEARNING,)),
    Mutant("FCC head window 10 s longer", "fcc_dataset/frames.py",
           "HEAD_SECONDS = 150", "HEAD_SECONDS = 160", (FCC_YOUTUBE,)),
    Mutant("FCC tail window 10 s shorter", "fcc_dataset/frames.py",
           "TAIL_SECONDS = 180", "TAIL_SECONDS = 170", (FCC_YOUTUBE,)),
    Mutant("checkpoint pruning not redone by the rerun after a kill",
           "applications/common/resume.py",
           "        self.checkpoints.prune()\n", "",
           ("tests/applications_tests/test_training_faults.py",)),
    Mutant("no fallback from a damaged checkpoint to the one before",
           "applications/common/resume.py",
           "        newest = self.survey.good[0] if self.survey.good else 0\n",
           "        newest = 0\n",
           ("tests/applications_tests/test_training_faults.py",)),
    Mutant("the old export left beside the new one after the swap",
           "applications/common/training.py",
           "    tmp.rename(path)\n    shutil.rmtree(old, ignore_errors=True)\n",
           "    tmp.rename(path)\n",
           ("tests/applications_tests/test_training_faults.py",)),
    Mutant("damaged checkpoints left in place among the good ones",
           "applications/common/resume.py",
           "        self.checkpoints.set_aside(self.survey.damaged)\n", "",
           ("tests/applications_tests/test_run_folder.py::"
            "test_damaged_checkpoints_are_set_aside_and_never_outrank_good_ones",)),
    Mutant("real and fake swapped in the discriminator's loss",
           "applications/common/gan_objectives.py",
           "    return 0.5 * (_sum_over_scales(mode, real, is_real=True)\n"
           "                  + _sum_over_scales(mode, fake, is_real=False))\n",
           "    return 0.5 * (_sum_over_scales(mode, fake, is_real=True)\n"
           "                  + _sum_over_scales(mode, real, is_real=False))\n",
           (f"{ADVERSARIAL}::test_tiny_adversarial_run",)),
    Mutant("the discriminator never steps (pix2pix's order)", "applications/common/adversarial.py",
           "            if self.settings[\"sequential\"]:\n                step_discriminator()\n"
           "            with tf.GradientTape() as tape:\n",
           "            with tf.GradientTape() as tape:\n",
           (f"{ADVERSARIAL}::test_tiny_adversarial_run",)),
]


def apply(mutant: Mutant, checkout: Path) -> None:
    path = checkout / mutant.path
    text = path.read_text()
    if text.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: {mutant.path} holds the text to change "
                         f"{text.count(mutant.old)} times, not once: update the mutant")
    path.write_text(text.replace(mutant.old, mutant.new))


def caught(mutant: Mutant, timeout: float) -> tuple[bool, float]:
    """Whether the mutant's tests fail on a copy with it applied; and how long they took."""
    with tempfile.TemporaryDirectory(prefix="spl_tf_mutant_") as folder:
        checkout = Path(folder)
        scratch_copy(checkout)
        apply(mutant, checkout)
        start = time.monotonic()
        # From the copy's root, so that its packages are the ones imported (Python puts
        # the working folder first), not the installed checkout's.
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             *mutant.tests], cwd=checkout, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(checkout)})
        return result.returncode != 0, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[],
                        help="Run only the mutant of this name (repeatable).")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds per mutant.")
    options = parser.parse_args()
    chosen = [m for m in MUTANTS if not options.only or m.name in options.only]
    if not chosen:
        raise SystemExit(f"no mutant named {options.only}; known: {[m.name for m in MUTANTS]}")
    survived = []
    print(f"{'mutant':<60} {'result':<9} {'s':>6}")
    for mutant in chosen:
        was_caught, seconds = caught(mutant, options.timeout)
        print(f"{mutant.name:<60} {'caught' if was_caught else 'SURVIVED':<9} {seconds:6.0f}",
              flush=True)
        if not was_caught:
            survived.append(mutant.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} caught")
    if survived:
        raise SystemExit(f"survived: {', '.join(survived)}")


if __name__ == "__main__":
    main()
