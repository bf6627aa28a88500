"""The differential oracle: random orm_kit queries checked against a pure-Python model."""
