"""Querying: managers, QuerySets, the compiler, lookups and expressions."""
