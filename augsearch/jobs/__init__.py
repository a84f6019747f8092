"""Job infrastructure that searches and comparisons share: the engines that run a job's tasks
(:mod:`~augsearch.jobs.engines`, in-process or on Ray Tune), the Ray cluster of one run
(:mod:`~augsearch.jobs.raycluster`), and the locked, atomically written job directory
(:mod:`~augsearch.jobs.workdir`)."""
