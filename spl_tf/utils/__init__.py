"""What every command of the project shares, as Keras keeps `keras.utils`.

The bottom layer: the FCC tools (`fcc_dataset`) and the trainers (`applications`) import
it, and the library's metrics read their weight files with it; it imports neither of
them, nor the rest of `spl_tf`.

- `errors`: `InputError` and `FileError`, the errors a command shows as one line.
- `cli`: the command wrapper (flags defined when a command starts, `--help` by section).
- `files`: atomic writes; folders that a failed write leaves as they were.
- `image_io`: the one image decoder (TensorFlow's, EXIF orientation applied), uint8 <->
  [-1, 1], image writes, distinct output names.
- `locks`: one writer per output folder.
- `downloads`: downloads that resume, show their progress and are verified (a published
  SHA-256, or trust on first use), from a source or a mirror; a cache folder.
- `archives`: zip and tar archives unpacked whole, never outside their folder.
- `extras`: a missing optional package, named with the extra that installs it.
- `faults`: the named points where tests pause, kill or fail a command.
- `torch_weights`: PyTorch weight files read without PyTorch (and never run), their
  digests, and where published ones are kept.

Below the library itself: only the metrics that read weight files or folders
(`spl_tf.lpips`, `spl_tf.inception`, `spl_tf.fid`) import it, and `import spl_tf` loads neither it nor Keras (see
`spl_tf.registration`), so `--help` of every command imports no TensorFlow.

Nothing is imported here: each module is imported by name (`from spl_tf.utils import
image_io`), so that a command pays only for what it uses (absl, OpenCV; TensorFlow on
first use of `image_io`'s decoders).
"""
