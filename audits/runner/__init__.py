"""Trial execution: joblib (loky by default), threads, Dask or Ray; batches seeded per batch,
atomic checkpoints and exact resume."""

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(
    run=("run_trials", "TrialResults", "batch_seed"),
    checkpoint=("Checkpoint",),
))
