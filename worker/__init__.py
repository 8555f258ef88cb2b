"""Speech: the pure pipeline (worker.pipeline) and the RQ task around it (worker.tasks).

Only this package imports torch or WhisperX, and only lazily, inside the functions that need them.
"""
