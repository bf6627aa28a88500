"""Optional integrations with other libraries, each behind its own extra (``orm_kit[fastapi]``).

Nothing in the core imports from here; each module imports its library at the top.
"""
