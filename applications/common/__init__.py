"""What every trainer shares: flags, runtime set-up, callbacks, image I/O,
prediction writing and export."""
