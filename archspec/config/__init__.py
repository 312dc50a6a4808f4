"""Typed YAML with positions: the safe reader, located diagnostics, the merge and override rules, sources
and files. Knows nothing of ResNets; every other layer reads its files through this one."""
