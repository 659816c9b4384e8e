"""`spl-eval`: a folder of predictions scored against a folder of targets with the field's
metrics (PSNR, SSIM, LPIPS, FID, KID), as the predict commands score theirs.

- `config`: the command's settings (its flags).
- `folders`: predictions paired with their targets by name, and read.
- `command`: the command itself, and `evaluate`, the function behind it.

The metrics themselves, shared with the predict commands, are
`applications.common.evaluation`.
"""
