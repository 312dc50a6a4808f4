"""How archspec.testing draws this plugin's own block fields (the common block settings it draws itself)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def block_fields() -> st.SearchStrategy[dict[str, Any]]:
    adaptive = st.fixed_dictionaries({"gamma": st.sampled_from([1, 2]), "beta": st.sampled_from([0, 1])})
    fixed = st.fixed_dictionaries({"kernel_size": st.sampled_from([1, 3, 5])})
    return st.fixed_dictionaries({"eca": st.one_of(adaptive, fixed)})
