"""From reconstruction errors to flags: row scores and their calibration, calibration
folds, the drift allowance, streaming over many series, alerts, windows and events,
thresholds and p-values, and the train-time trend warning."""
