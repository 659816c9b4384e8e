"""What every application shares: the contract (`application`), typed configs and their
flags (`config`), the run's `config.json` (`run_record`), the train and predict
commands (`commands`), the drivers (`training`, `prediction`), runtime set-up,
callbacks, pair data, the ResNet-9 generator and plots."""
