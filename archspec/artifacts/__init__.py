"""What a run leaves on disk, and the one place that knows each file's layout and format.

checkpoint.py   checkpoints: written atomically, read with weights_only, checked and checksummed
rundir.py       RunDir: a run folder's layout and its lock
metadata.py     the export metadata contract (spec, hash, classes, preprocessing) and its reader
weightfiles.py  `archspec weights import/export`: another codebase's state dict <-> a checkpoint
"""
