"""`spl-data`: the datasets of the field, fetched and unpacked as our commands read them.

- `catalogue`: one entry per set: source, size, verification, layout, the command that
  reads it.
- `fetching`: a set into `DIR/NAME`, whole or not at all (the function behind
  `spl-data fetch`, which the notebook calls too).
- `layouts`: from what the archives unpack to, to what the trainers read.
- `registry`: tensorflow-datasets' registered digests, read at run time.
- `command`: the command itself (`spl-data list`, `spl-data fetch NAME`).

Downloading and unpacking are `spl_tf.utils.downloads` and `spl_tf.utils.archives`.
"""
