"""Design-space sweeps: sample spec and recipe variants, reject those over a cost budget analytically,
train the rest as ordinary runs under an Optuna study, and rank and plot what came out.

    space.py        the sweep file: schema, loading (file:line:col errors), the resolved sweep
    candidate.py    one trial's values -> spec, recipe and analytic cost (the one override grammar)
    storage.py      the study's storage: SQLite in the sweep folder, or a shared PostgreSQL
    trials.py       what each trial recorded: outcomes, claims, retries of crashed trials
    worker.py       the objective: sample, check, deduplicate, train (pruned per epoch)
    study.py        the driver: sweep folder, lock, worker processes, resume, progress
    leaderboard.py  the ranked table, CSV/JSON, Pareto front, best spec and recipe files
    plots.py        pareto.png and edf.png
"""
