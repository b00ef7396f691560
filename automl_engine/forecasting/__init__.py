"""Time-series forecasting (work in progress; the public factory is wired in with the task abstraction)."""
