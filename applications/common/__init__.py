"""What every application shares: the contract (`application`), typed configs and their
flags (`config`), the run's `config.json` (`run_record`), the train and predict
commands (`commands`), the drivers (`training`, `prediction`), runtime set-up and data
parallelism (`runtime`), what each epoch writes (`callbacks`, `checkpoints`), pair data,
seeded augmentation (`augment`), the ResNet-9 generator and plots."""
